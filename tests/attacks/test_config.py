"""Every attack can be built from YAML by class_path, the way LightningCLI builds the evaluation callback."""

from collections.abc import Callable

import pytest
import yaml
from jsonargparse import ArgumentParser

from advconf.attacks import FGSM, PGD, ConstantOffset, UniformNoise


def build(config: dict):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--attack", type=Callable)
    return parser.instantiate(parser.parse_args(["--attack", yaml.safe_dump(config)])).attack


@pytest.mark.parametrize(
    "config,cls",
    [
        ({"class_path": "advconf.attacks.FGSM", "init_args": {"norm": "l2"}}, FGSM),
        ({"class_path": "advconf.attacks.PGD", "init_args": {"steps": 7, "rel_step_size": 0.25}}, PGD),
        ({"class_path": "advconf.attacks.ConstantOffset"}, ConstantOffset),
        ({"class_path": "advconf.attacks.UniformNoise", "init_args": {"norm": "l2", "seed": None}}, UniformNoise),
    ],
)
def test_attack_built_from_class_path(config, cls):
    attack = build(config)
    assert type(attack) is cls
    for key, value in config.get("init_args", {}).items():
        assert getattr(attack, key) == value


def test_eot_is_an_option_of_the_attack_given_by_class_path():
    attack = build({"class_path": "advconf.attacks.PGD", "init_args": {"steps": 5, "gradient_samples": 3}})
    assert isinstance(attack, PGD) and attack.steps == 5 and attack.gradient_samples == 3


def test_unknown_norm_is_rejected_by_the_parser():
    with pytest.raises(Exception, match="norm"):
        build({"class_path": "advconf.attacks.PGD", "init_args": {"norm": "l3"}})
