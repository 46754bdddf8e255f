"""AttackEvaluation: confidence metrics on hand-built logits, and the gradient-masking flags, through `Trainer.test`."""

import csv

import pytest
import torch
from torch import Tensor, nn

from torchmetrics.functional.classification import multiclass_calibration_error

from advconf.attacks import FGSM, PGD
from advconf.callbacks import AttackEvaluation
from advconf.callbacks.records import calibration_error
from advconf.errors import AdvconfError
from advconf.metrics import detection_auroc
from tests.callbacks.evaluation_run import results, run_test
from tests.attacks.toys import Overshoot, Quantized, held_out_points, overshoot_points, trained_mlp


def expected_calibration_error(probs: Tensor, labels: Tensor) -> float:
    """Top-label ECE of (N, K) probabilities, by torchmetrics' multiclass implementation (the oracle)."""
    return float(multiclass_calibration_error(probs, labels, num_classes=probs.shape[1], n_bins=15, norm="l1"))

# Example k is the input [k]; attacking it turns it into [100 + k]. The model looks logits up.
CLEAN = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.5]])
ATTACKED = torch.tensor([[0.0, 3.0], [0.0, 2.0], [0.0, 9.0], [1.0, 0.0]])
LABELS = torch.tensor([0, 1, 1, 1])  # clean: right, right, wrong, right; attacked: wrong, right, (skipped), wrong


class Lookup(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        k = x[:, 0].long()
        return torch.where((k >= 100).view(-1, 1), ATTACKED[k % 100], CLEAN[k % 100])


class Shift:
    """A gradient-free 'attack' that swaps each input for its attacked id."""

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: object = None, generator: object = None) -> Tensor:
        self.calls.append(len(x))
        self.boxes.append(box)
        return x + 100

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.boxes: list[object] = []


def test_metrics_on_hand_built_logits(tmp_path):
    x = torch.arange(4.0).view(-1, 1)
    run_test(AttackEvaluation(Shift(), eps=[0.0, 1.0], name="lookup"), Lookup(), x, LABELS, tmp_path, batch_size=2)
    result = results(tmp_path, "lookup")
    clean_conf = torch.softmax(CLEAN, 1).max(1).values
    # example 2 was wrong clean, so it is not attacked: its "attacked" input stays clean
    final = torch.stack([ATTACKED[0], ATTACKED[1], CLEAN[2], ATTACKED[3]])
    final_conf = torch.softmax(final, 1).max(1).values
    assert result["clean"]["accuracy"] == pytest.approx(0.75)
    assert result["clean"]["confidence"] == pytest.approx(clean_conf.mean().item())
    assert result["clean"]["ece"] == pytest.approx(expected_calibration_error(torch.softmax(CLEAN, 1), LABELS))
    row = result["results"][1]
    assert row["accuracy"] == pytest.approx(0.25)
    assert row["confidence"] == pytest.approx(final_conf.mean().item())
    assert row["ece"] == pytest.approx(expected_calibration_error(torch.softmax(final, 1), LABELS))
    # successful adversarial examples: 0 and 3 (right clean, wrong attacked); natural: all four clean inputs
    assert row["num_adversarial"] == 2
    assert row["adversarial_confidence"] == pytest.approx(final_conf[[0, 3]].mean().item())
    assert row["detection_auroc"] == pytest.approx(detection_auroc(clean_conf, final_conf[[0, 3]]))
    assert row["detection_auroc"] == pytest.approx(3 / 8)  # pairs by hand: 1 + 0.5 + 0.5 + 1 of 8
    assert result["results"][0]["detection_auroc"] is None  # eps 0 fools nobody
    assert result["masking"] == {} and result["masking_examples"] == 0  # gradient-free: nothing to check
    with open(tmp_path / "results" / "lookup.csv") as f:
        columns = next(csv.reader(f))
    assert columns[:5] == ["attack", "eps", "accuracy", "confidence", "ece"]
    assert {"detection_auroc", "num_adversarial", "adversarial_confidence"} <= set(columns)


class TenClasses(nn.Module):
    """Logits favour class 9 - k for input k; attacking (k + 100) shifts them so the label falls to rank 6."""

    def forward(self, x: Tensor) -> Tensor:
        k = x[:, 0].long()
        ranks = torch.arange(10.0).expand(len(k), 10)  # class 9 highest
        attacked = (k >= 100).view(-1, 1)
        return torch.where(attacked, torch.roll(ranks, 4, dims=1), ranks)


def test_top5_accuracy_comes_from_attacked_inputs_for_every_example(tmp_path):
    x = torch.zeros(4, 1)
    y = torch.tensor([9, 5, 4, 0])  # clean ranks 1, 5, 6, 10 → top-1 1/4, top-5 2/4
    shift = Shift()
    run_test(AttackEvaluation(shift, eps=[1.0], name="top5", masking_checks=False), TenClasses(), x, y,
             tmp_path, num_classes=10)
    result = results(tmp_path, "top5")
    assert result["clean"]["accuracy"] == pytest.approx(0.25)
    assert result["clean"]["top5_accuracy"] == pytest.approx(0.5)
    # Example 1 is wrong in top-1 but right in top-5, so it is attacked too (two examples, not one):
    # rolled by 4, label 9 of example 0 drops to rank 5 (top-5, not top-1), label 5 of example 1 to rank 9.
    assert shift.calls == [2]
    assert result["results"][0]["accuracy"] == pytest.approx(0.0)
    assert result["results"][0]["top5_accuracy"] == pytest.approx(0.25)
    lookup = tmp_path / "two"
    run_test(AttackEvaluation(Shift(), eps=[1.0], name="two"), Lookup(), torch.arange(4.0).view(-1, 1), LABELS, lookup)
    assert "top5_accuracy" not in results(lookup, "two")["clean"]


def test_calibration_error_from_confidence_and_correctness_equals_top_label_ece():
    probs = torch.softmax(torch.randn(300, 10, generator=torch.Generator().manual_seed(0)) * 3, dim=1)
    labels = torch.randint(0, 10, (300,), generator=torch.Generator().manual_seed(1))
    conf, pred = probs.max(dim=1)
    assert calibration_error(conf, pred == labels) == pytest.approx(expected_calibration_error(probs, labels), abs=1e-6)


EPS = [0.0, 0.05, 0.1, 0.2, 0.3]


def masking(tmp_path, model: nn.Module, x: Tensor, y: Tensor, attack, eps=EPS, **options) -> dict:
    evaluation = AttackEvaluation(attack, eps=eps, name="masking", **options)
    with pytest.warns() as warned:
        run_test(evaluation, model, x, y, tmp_path)
    result = results(tmp_path, "masking")
    result["warnings"] = [str(w.message) for w in warned if "possible gradient masking" in str(w.message)]
    return result


def fired(result: dict) -> set[str]:
    return {name for name, flag in result["masking"].items() if flag["fired"]}


def test_masking_checks_stay_quiet_on_a_normal_trained_model(tmp_path):
    x, y = held_out_points()
    result = masking(tmp_path, trained_mlp(), x, y, PGD(steps=10), masking_examples=100)
    assert set(result["masking"]) == {"accuracy_not_monotone", "large_eps_not_broken", "one_step_stronger", "noise_stronger", "zero_gradients"}
    assert fired(result) == set() and result["warnings"] == []
    assert result["masking_examples"] == 100


def test_quantized_input_fires_zero_gradient_large_eps_and_noise_flags_with_warnings(tmp_path):
    x, y = held_out_points()
    result = masking(tmp_path, Quantized(trained_mlp()), x, y, FGSM())
    assert {"zero_gradients", "large_eps_not_broken", "noise_stronger"} <= fired(result)
    assert len(result["warnings"]) == len(fired(result))
    assert any("zero input gradient" in w for w in result["warnings"])


def test_overshooting_model_fires_monotonicity_flag_even_with_skip_decided(tmp_path):
    # With skip_decided the reported curve is monotone by construction; the probe attacks from scratch.
    x, y = overshoot_points()
    result = masking(tmp_path, Overshoot(), x, y, FGSM(), eps=[0.0, 0.05, 0.45, 0.9])
    assert [row["accuracy"] for row in result["results"]] == [1.0, 1.0, 0.0, 0.0]
    assert "accuracy_not_monotone" in fired(result)


def test_overshooting_model_fires_one_step_stronger_flag(tmp_path):
    x, y = overshoot_points()
    result = masking(tmp_path, Overshoot(), x, y, PGD(steps=20, random_start=False), eps=[0.0, 0.05, 0.45, 0.9])
    assert "one_step_stronger" in fired(result)


def test_masking_checks_can_be_switched_off(tmp_path):
    x, y = held_out_points(20)
    run_test(AttackEvaluation(FGSM(), eps=[0.0, 0.1], name="off", masking_checks=False), trained_mlp(), x, y, tmp_path)
    assert results(tmp_path, "off")["masking"] == {}


@pytest.mark.parametrize("option", ["masking_examples", "masking_steps"])
def test_masking_cost_controls_must_be_positive(option):
    with pytest.raises(AdvconfError, match=option):
        AttackEvaluation(FGSM(), **{option: 0})


def test_skip_decided_never_reports_higher_accuracy_than_attacking_every_example(tmp_path):
    # FGSM is deterministic: with skipping, examples not yet broken are attacked exactly as without,
    # and those broken at a smaller budget stay broken, so accuracy can only be lower or equal.
    x, y = overshoot_points()
    eps = [0.0, 0.05, 0.45, 0.9]
    for skip in (True, False):
        run_test(AttackEvaluation(FGSM(), eps=eps, name=f"skip{skip}", skip_decided=skip, masking_checks=False),
                 Overshoot(), x, y, tmp_path)
    skipped, full = results(tmp_path, "skipTrue"), results(tmp_path, "skipFalse")
    assert skipped["skipped_decided"] and not full["skipped_decided"]
    accuracy = [[row["accuracy"] for row in r["results"]] for r in (skipped, full)]
    assert all(a <= b for a, b in zip(*accuracy))
    # The overshooting model: the full computation sees accuracy come back at the largest budget.
    assert accuracy[1] == [1.0, 1.0, 0.0, 1.0] and accuracy[0] == [1.0, 1.0, 0.0, 0.0]


def test_skip_decided_false_attacks_every_example_at_every_budget(tmp_path):
    shift = Shift()
    run_test(AttackEvaluation(shift, eps=[0.5, 1.0], name="all", skip_decided=False), Lookup(),
             torch.arange(4.0).view(-1, 1), LABELS, tmp_path, batch_size=4)
    assert shift.calls == [4, 4]
    skipping = Shift()
    run_test(AttackEvaluation(skipping, eps=[0.5, 1.0], name="skip"), Lookup(), torch.arange(4.0).view(-1, 1), LABELS,
             tmp_path, batch_size=4)
    assert skipping.calls == [3, 1]  # clean: three right; after the first budget only example 1 still is


class NoisyInput(nn.Module):
    """Randomness that eval mode does not switch off: Gaussian noise on the input of a linear model."""

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x + 0.5 * torch.randn_like(x))


def test_a_random_model_is_attacked_on_every_example_and_the_results_say_so(tmp_path):
    generator = torch.Generator().manual_seed(0)
    model = NoisyInput(torch.randn(2, 64, generator=generator))
    x, y = torch.rand(40, 64, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    shift = CountingFGSM()
    run_test(AttackEvaluation(shift, eps=[0.05, 0.1], name="random", masking_checks=False), model, x, y, tmp_path, batch_size=40)
    result = results(tmp_path, "random")
    assert result["randomness"] is True and result["skipped_decided"] is False
    assert shift.calls == [40, 40]


class CountingFGSM(FGSM):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def __call__(self, model, x, y, eps, box=(0.0, 1.0), generator=None):
        self.calls.append(len(x))
        return super().__call__(model, x, y, eps, box, generator)


def test_eot_attacks_every_example(tmp_path):
    x, y = held_out_points(40)
    run_test(AttackEvaluation(PGD(steps=2, gradient_samples=2), eps=[0.1], name="eot", masking_checks=False),
             trained_mlp(), x, y, tmp_path)
    assert results(tmp_path, "eot")["skipped_decided"] is False


def test_targeted_attacks_are_refused():
    with pytest.raises(AdvconfError, match="targeted"):
        AttackEvaluation(PGD(targeted=True), eps=[0.1])


def test_results_record_the_box_the_attack_used(tmp_path):
    shift = Shift()
    run_test(AttackEvaluation(shift, eps=[1.0], name="box"), Lookup(), torch.arange(4.0).view(-1, 1), LABELS, tmp_path,
             box=(-1.0, 2.0))
    assert shift.boxes == [(-1.0, 2.0)] and results(tmp_path, "box")["box"] == [-1.0, 2.0]
    unbounded = Shift()
    run_test(AttackEvaluation(unbounded, eps=[1.0], name="none"), Lookup(), torch.arange(4.0).view(-1, 1), LABELS,
             tmp_path, box=None)
    assert unbounded.boxes == [None] and results(tmp_path, "none")["box"] is None


def test_an_evaluation_without_a_declared_box_is_refused(tmp_path):
    module = run_test.__globals__["Classifier"](Lookup(), num_classes=2)
    trainer = run_test.__globals__["Trainer"](default_root_dir=tmp_path, logger=False, enable_progress_bar=False,
                                              inference_mode=False, callbacks=[AttackEvaluation(Shift(), eps=[1.0], name="x")])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(4.0).view(-1, 1), LABELS))
    with pytest.raises(AdvconfError, match="input_box"):
        trainer.test(module, dataloaders=loader, verbose=False)


def test_vulnerability_auroc_matches_a_hand_count(tmp_path):
    # Clean-right examples 0, 1, 3 (confidences by hand below); the attack breaks 0 and 3, not 1.
    run_test(AttackEvaluation(Shift(), eps=[1.0], name="vuln"), Lookup(), torch.arange(4.0).view(-1, 1), LABELS, tmp_path)
    row = results(tmp_path, "vuln")["results"][0]
    conf = torch.softmax(CLEAN, 1).max(1).values  # 0.881, 0.731, 0.953, 0.622
    # Pairs (broken, unbroken): (0, 1): conf 0.881 > 0.731, low confidence does not mark 0 -> 0;
    # (3, 1): 0.622 < 0.731 -> 1. AUROC = 1/2.
    assert conf[0] > conf[1] > conf[3]
    assert row["vulnerability_auroc_confidence"] == pytest.approx(0.5)
    # Margins: 2.0, 1.0, 0.5 for examples 0, 1, 3 -> same ordering, same AUROC.
    assert row["vulnerability_auroc_margin"] == pytest.approx(0.5)


def test_vulnerability_auroc_is_null_when_nothing_breaks(tmp_path):
    x, y = held_out_points(30)
    run_test(AttackEvaluation(FGSM(), eps=[0.0], name="none", masking_checks=False), trained_mlp(), x, y, tmp_path)
    assert results(tmp_path, "none")["results"][0]["vulnerability_auroc_confidence"] is None
