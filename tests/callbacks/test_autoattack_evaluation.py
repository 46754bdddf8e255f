"""AutoAttackEvaluation through `Trainer.test`: per-stage robust accuracy, time per stage, skipped stages,
the gradient-masking flag, and never above PGD-20."""

import pytest
import torch

from advconf.attacks import PGD, AutoAttack
from advconf.callbacks import AttackEvaluation, AutoAttackEvaluation
from advconf.errors import AdvconfError
from tests.attacks.aa_models import conv_model, fashion_mlp, fashion_mnist, images
from tests.attacks.test_cascade import Rounded, correct, labels
from tests.callbacks.evaluation_run import results, run_test
from tests.helpers import read_json, run_cli, tiny_spheres_config

SMALL = dict(steps=10, targets=3, queries=100)  # the paper's budgets cut, to keep the tests fast


def test_cascade_results_per_stage_and_never_above_pgd20(tmp_path, fashion_mnist_dir):
    model = fashion_mlp(fashion_mnist_dir)
    x, y = fashion_mnist(fashion_mnist_dir, train=False, limit=100)
    eps = [0.0, 0.03]
    run_test(AutoAttackEvaluation(AutoAttack(**SMALL), eps=eps), model, x, y, tmp_path, num_classes=10, batch_size=100)
    run_test(AttackEvaluation(PGD(steps=20), eps=eps, name="pgd20", masking_checks=False), model, x, y, tmp_path,
             num_classes=10, batch_size=100)
    result, pgd = results(tmp_path, "autoattack"), results(tmp_path, "pgd20")
    row = result["results"][1]
    after = row["robust_accuracy_after"]
    assert list(after) == ["apgd-ce", "apgd-t", "fab-t", "square"] == result["stages"]
    assert row["accuracy"] == after["square"] <= after["fab-t"] <= after["apgd-t"] <= after["apgd-ce"] < result["clean"]["accuracy"]
    assert row["accuracy"] <= pgd["results"][1]["accuracy"]
    # The same cascade run directly on the clean-correct examples (what the evaluation attacks) agrees.
    right = correct(model, x, y)
    direct = AutoAttack(**SMALL).run(model, x[right], y[right], 0.03)
    assert row["accuracy"] == pytest.approx(direct.robust.sum().item() / len(x))
    assert all(seconds > 0 for seconds in row["seconds"].values())
    assert result["results"][0]["accuracy"] == result["clean"]["accuracy"]  # eps 0: nothing is attacked
    assert result["skipped_stages"] == [] and result["gradient_masking"]["fired"] is False
    assert {"robust_after_apgd-ce", "seconds_square", "vulnerability_auroc_confidence"} <= set(
        (tmp_path / "results" / "autoattack.csv").read_text().splitlines()[0].split(","))


def test_square_breaking_what_gradients_left_standing_fires_the_masking_flag(tmp_path):
    model = Rounded(conv_model()).eval()  # zero input gradients everywhere
    x, y = images(30), labels(30)
    evaluation = AutoAttackEvaluation(AutoAttack(steps=5, targets=2, queries=100), eps=[0.2], name="masked")
    with pytest.warns(UserWarning, match="possible gradient masking"):
        run_test(evaluation, model, x, y, tmp_path, num_classes=5)
    result = results(tmp_path, "masked")
    assert result["gradient_masking"]["fired"] is True
    assert result["results"][0]["square_breaks_after_gradient_stages"] > 0


def test_a_binary_model_without_a_box_skips_what_cannot_run_in_one_line_each(tmp_path, capsys):
    config = tiny_spheres_config(tmp_path, name="aa")
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false"])
    run_dir = tmp_path / "checkpoints" / "aa"
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--trainer.logger", "false",
             "--attack", "autoattack", "--attack.eps", "[0.0, 0.1]", "--attack.steps", "5"])
    result = read_json(run_dir / "results" / "autoattack.json")
    skipped = result["skipped_stages"]
    assert [line.split()[0] for line in skipped] == ["apgd-t", "fab-t", "square"]
    out = capsys.readouterr().out
    assert all(line in out for line in skipped)
    after = result["results"][1]["robust_accuracy_after"]
    assert after["apgd-ce"] == after["square"] == result["results"][1]["accuracy"] < result["clean"]["accuracy"]
    assert result["box"] is None


def test_a_cascade_is_required():
    with pytest.raises(AdvconfError, match="runs a cascade"):
        AutoAttackEvaluation(PGD())


def test_a_random_model_is_attacked_at_every_budget(tmp_path):
    from tests.callbacks.test_attack_evaluation import NoisyInput

    generator = torch.Generator().manual_seed(0)
    model = NoisyInput(torch.randn(5, 64, generator=generator))
    x, y = torch.rand(20, 1, 8, 8, generator=generator), torch.randint(0, 5, (20,), generator=generator)
    run_test(AutoAttackEvaluation(AutoAttack(steps=2, targets=2, queries=10), eps=[0.05, 0.1], name="random"),
             torch.nn.Sequential(torch.nn.Flatten(), model), x, y, tmp_path, num_classes=5)
    result = results(tmp_path, "random")
    assert result["randomness"] is True and result["skipped_decided"] is False
