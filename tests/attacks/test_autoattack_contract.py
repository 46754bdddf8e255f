"""The attack contract for APGD, APGD-T, FAB-T, Square and the AutoAttack cascade: budget, any box, mode,
no parameter gradients, inference tensors, seeds and the caller's RNG, single-logit models, YAML."""

import math
from collections.abc import Callable

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

from advconf.attacks._applicability import NotApplicable
from advconf.attacks.apgd import APGD, APGDT
from advconf.attacks.cascade import AutoAttack, Cascade
from advconf.attacks.fab import FABT
from advconf.attacks.square import Square
from advconf.errors import AdvconfError
from tests.attacks.aa_models import TwoLogits, conv_model, images, own_labels

ATTACKS = {
    "apgd-ce": (APGD(steps=5), "linf"),
    "apgd-ce-l2": (APGD(norm="l2", steps=5, restarts=2), "l2"),
    "apgd-dlr": (APGD(loss="dlr", steps=5), "linf"),
    "apgd-t": (APGDT(steps=3, targets=2), "linf"),
    "apgd-t-l2": (APGDT(norm="l2", steps=3, targets=2), "l2"),
    "fab-t": (FABT(steps=3, targets=2), "linf"),
    "fab-t-l2": (FABT(norm="l2", steps=3, targets=2), "l2"),
    "square": (Square(queries=20), "linf"),
    "square-l2": (Square(norm="l2", queries=20), "l2"),
    "autoattack": (AutoAttack(steps=3, targets=2, queries=20), "linf"),
    "autoattack-l2": (AutoAttack(norm="l2", steps=3, targets=2, queries=20), "l2"),
}
params = pytest.mark.parametrize("attack,norm", ATTACKS.values(), ids=ATTACKS.keys())
RANDOM = [name for name in ATTACKS if not name.startswith("fab")]  # FAB-T makes no random draws


def distances(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    delta = (x_adv - x).flatten(1)
    return delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)


class Shifted(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, offset: float) -> None:
        super().__init__()
        self.model, self.offset = model, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x - self.offset)


@params
@pytest.mark.parametrize("eps", [0.0, 8 / 255, 0.3])
@pytest.mark.parametrize("box", [(0.0, 1.0), (-0.5, 0.5)])
def test_output_respects_budget_and_box(attack, norm, eps, box):
    model = Shifted(conv_model().eval(), box[0])
    x = images() + box[0]
    x_adv = attack(model, x, own_labels(model, x), eps, box=box)
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (distances(x_adv, x, norm) <= eps + 1e-5).all()
    assert x_adv.min() >= box[0] and x_adv.max() <= box[1]


def test_attacks_do_work_on_the_contract_model():
    model = conv_model().eval()
    x = images()
    y = own_labels(model, x)
    for name, (attack, _) in ATTACKS.items():
        with torch.no_grad():
            assert (model(attack(model, x, y, 0.3)).argmax(dim=1) != y).any(), name


@params
@pytest.mark.parametrize("training", [True, False])
def test_mode_kept_and_no_parameter_gradients(attack, norm, training):
    model = conv_model().train(training)
    x = images()
    attack(model, x, torch.arange(len(x)) % 5, 0.1)
    assert all(m.training == training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


@params
def test_works_on_inference_tensors_inside_inference_mode(attack, norm):
    model = conv_model().eval()
    with torch.inference_mode():
        x = images()
        x_adv = attack(model, x, own_labels(model, x), 0.1)
    assert not x_adv.is_inference()
    assert (distances(x_adv, x, norm) <= 0.1 + 1e-5).all()


@params
def test_inputs_are_not_modified(attack, norm):
    x = images()
    model = conv_model().eval()
    y = own_labels(model, x)
    x_before, y_before = x.clone(), y.clone()
    attack(model, x, y, 0.2)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)


@params
def test_seed_reproduces_and_the_callers_rng_is_left_alone(attack, norm):
    model = conv_model().eval()
    x = images()
    y = own_labels(model, x)
    state = torch.get_rng_state()
    first = attack(model, x, y, 0.1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, attack(model, x, y, 0.1))


@pytest.mark.parametrize("name", RANDOM)
def test_a_generator_replaces_the_seed(name):
    attack, _ = ATTACKS[name]
    model = conv_model().eval()
    x = images()
    y = own_labels(model, x)
    drawn = [attack(model, x, y, 0.1, generator=torch.Generator().manual_seed(s)) for s in (2, 2, 3)]
    assert torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[0], drawn[2])


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-ce-l2", "fab-t", "fab-t-l2", "square", "square-l2"])
def test_single_logit_model_is_attacked_as_its_two_logit_form(name):
    attack, norm = ATTACKS[name]
    model = conv_model(classes=1).eval()
    x = images(12)
    with torch.no_grad():
        y = (model(x)[:, 0] > 0).long()
    eps = 0.3 if norm == "linf" else 1.5
    single, double = attack(model, x, y, eps), attack(TwoLogits(model), x, y, eps)
    assert torch.allclose(single, double, atol=1e-5)
    with torch.no_grad():
        assert ((model(single)[:, 0] > 0).long() != y).any()


@pytest.mark.parametrize("name", ["apgd-ce", "apgd-ce-l2", "apgd-dlr", "apgd-t"])
def test_apgd_needs_no_box(name):
    attack, norm = ATTACKS[name]
    model = conv_model().eval()
    x = 3 * images() - 1  # raw values beyond [0, 1]
    x_adv = attack(model, x, own_labels(model, x), 0.5, box=None)
    assert (distances(x_adv, x, norm) <= 0.5 + 1e-5).all()
    assert x_adv.min() < -1 or x_adv.max() > 2


@pytest.mark.parametrize("name", ["fab-t", "square"])
def test_box_free_input_spaces_are_refused_by_attacks_that_need_a_box(name):
    attack, _ = ATTACKS[name]
    model = conv_model().eval()
    x = images()
    with pytest.raises(NotApplicable, match="bounded input box"):
        attack(model, x, own_labels(model, x), 0.1, box=None)


@params
@pytest.mark.parametrize("eps", [-0.1, math.nan, math.inf, "0.1", None])
def test_bad_eps_raises(attack, norm, eps):
    x = images(2)
    with pytest.raises(AdvconfError, match="eps"):
        attack(conv_model().eval(), x, torch.zeros(2).long(), eps)


def build(config: dict):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--attack", type=Callable)
    return parser.instantiate(parser.parse_args(["--attack", yaml.safe_dump(config)])).attack


@pytest.mark.parametrize(
    "config,cls",
    [
        ({"class_path": "advconf.attacks.apgd.APGD", "init_args": {"loss": "dlr", "norm": "l2", "steps": 7}}, APGD),
        ({"class_path": "advconf.attacks.apgd.APGDT", "init_args": {"targets": 3, "seed": 5}}, APGDT),
        ({"class_path": "advconf.attacks.fab.FABT", "init_args": {"steps": 20}}, FABT),
        ({"class_path": "advconf.attacks.square.Square", "init_args": {"queries": 100, "p_init": 0.5}}, Square),
        (
            {
                "class_path": "advconf.attacks.cascade.AutoAttack",
                "init_args": {"norm": "l2", "stages": ["apgd-ce", "square"]},
            },
            AutoAttack,
        ),
    ],
)
def test_attack_built_from_class_path(config, cls):
    attack = build(config)
    assert type(attack) is cls
    for key, value in config["init_args"].items():
        assert getattr(attack, key) == value


def test_a_custom_cascade_is_built_from_class_paths():
    cascade = build(
        {
            "class_path": "advconf.attacks.cascade.Cascade",
            "init_args": {
                "stages": {
                    "pgd": {"class_path": "advconf.attacks.PGD", "init_args": {"steps": 5}},
                    "square": {"class_path": "advconf.attacks.square.Square", "init_args": {"queries": 10}},
                }
            },
        }
    )
    assert isinstance(cascade, Cascade) and list(cascade.attacks) == ["pgd", "square"]
    assert isinstance(cascade.attacks["square"], Square) and cascade.attacks["square"].queries == 10


def test_unknown_stage_is_rejected():
    with pytest.raises(AdvconfError, match="stages"):
        AutoAttack(stages=["apgd-ce", "pgd"])
