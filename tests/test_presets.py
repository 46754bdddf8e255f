"""The preset option language (`--attack NAME`, `--attack.KEY VALUE`, `attack_defaults`) as a unit."""

import pytest

from advconf import presets
from advconf.errors import AdvconfError
from tests.helpers import REPO

PACKAGED = sorted(p.stem for p in (REPO / "advconf" / "presets").glob("*.yaml"))


def test_the_presets_ship_inside_the_package_and_are_browsable_under_configs():
    assert {"fgsm", "pgd", "pgd-l2", "eot-pgd", "offset", "non-examples", "autoattack", "autoattack-l2"} <= set(PACKAGED)
    assert sorted(p.stem for p in (REPO / "configs" / "attacks").glob("*.yaml")) == PACKAGED
    assert set(PACKAGED) | {"fooling"} <= set(presets.available())


def test_split_args_takes_names_and_overrides_out_and_reads_values_as_yaml():
    rest, options = presets.split_args(
        ["test", "--attack", "pgd", "--config", "c.yaml", "--attack=fgsm", "--attack.eps", "[0.1, 8/255]", "--attack.steps=7"]
    )
    assert rest == ["test", "--config", "c.yaml"]
    assert options.names == ["pgd", "fgsm"]
    assert options.overrides == {"eps": [0.1, pytest.approx(8 / 255)], "steps": 7}


@pytest.mark.parametrize("text,value", [("8/255", 8 / 255), ("0.5 / 2", 0.25), ("[2/255, 0.1]", [2 / 255, 0.1]), ("abc", "abc")])
def test_values_accept_simple_fractions(text, value):
    assert presets.read_value(text) == pytest.approx(value) if not isinstance(value, str) else presets.read_value(text) == value


def test_overrides_without_an_attack_and_a_missing_value_are_errors():
    with pytest.raises(AdvconfError, match="need at least one --attack"):
        presets.split_args(["test", "--attack.eps", "0.1"])
    with pytest.raises(AdvconfError, match="needs a value"):
        presets.split_args(["test", "--attack"])
    with pytest.raises(AdvconfError, match="divides by zero"):
        presets.split_args(["test", "--attack", "pgd", "--attack.eps", "1/0"])


def test_an_option_goes_to_the_evaluation_else_to_its_attack():
    preset = presets.load("pgd")
    assert presets.with_option(preset, "eps", [0.1])["init_args"]["eps"] == [0.1]
    assert presets.with_option(preset, "steps", 3)["init_args"]["attack"]["init_args"]["steps"] == 3
    assert presets.with_option(preset, "stepz", 3) is None
    assert preset["init_args"]["attack"]["init_args"]["steps"] == 50  # the loaded preset is not changed


@pytest.mark.parametrize("name", PACKAGED)
def test_every_preset_builds_its_evaluation_named_like_its_file(name):
    (callback,) = presets.build(presets.AttackOptions([name]), {})
    assert callback.name == name


def test_paper_defaults_in_presets():
    pgd, fgsm, non_examples = presets.build(presets.AttackOptions(["pgd", "fgsm", "non-examples"]), {})
    assert pgd.attack.steps == 50 and 0.0313725 in pgd.eps  # PGD-50 at 8/255 (CIFAR-10, Fig 7/8)
    assert 0.1 in fgsm.eps  # FGSM 0.1 (MNIST 3 vs 7, Table 1)
    attack = non_examples.attack
    assert (attack.steps, attack.step_size, attack.noise_std, attack.sign) == (100, 0.01, 0.1, True)


def test_the_old_name_fooling_is_an_alias_of_non_examples():
    (callback,) = presets.build(presets.AttackOptions(["fooling"]), {"fooling": {"per_class": 2}})
    assert callback.name == "non-examples" and callback.per_class == 2


def test_experiment_defaults_then_command_line_overrides_apply_to_every_preset_that_has_the_option():
    options = presets.AttackOptions(["pgd", "offset"], {"steps": 5})
    pgd, offset = presets.build(options, {"pgd": {"eps": ["2/255"], "steps": 9}, "offset": {"offsets": [0.5]}})
    assert pgd.eps == [pytest.approx(2 / 255)] and pgd.attack.steps == 5 and offset.offsets == [0.5]


@pytest.mark.parametrize(
    "options,defaults,message",
    [
        (presets.AttackOptions(["fgsm"], {"stepz": 3}), {}, "no selected attack has an option 'stepz'"),
        (presets.AttackOptions(["fgsm"]), {"fgsm": {"stepz": 3}}, "the preset has no option 'stepz'"),
        (presets.AttackOptions(["fgsm"]), {"cw": {"eps": [0.1]}}, "unknown presets"),
        (presets.AttackOptions(["fgsm", "fgsm"]), {}, "same results file"),
        (presets.AttackOptions(["cw"]), {}, "unknown attack 'cw'; available presets: autoattack, autoattack-l2, eot-pgd"),
        (presets.AttackOptions(["pgd"], {"eps": "eight"}), {}, "eps must be a number or a fraction like 8/255"),
    ],
)
def test_bad_preset_requests_are_one_line_errors(options, defaults, message):
    with pytest.raises(AdvconfError, match=message):
        presets.build(options, defaults)


def test_a_broken_preset_file_is_named_in_one_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("class_path: [unclosed\n")
    with pytest.raises(AdvconfError, match=f"attack preset {broken} cannot be read"):
        presets.build(presets.AttackOptions([str(broken)]), {})
    not_a_preset = tmp_path / "list.yaml"
    not_a_preset.write_text("- 1\n- 2\n")
    with pytest.raises(AdvconfError, match="must be a mapping with a class_path"):
        presets.build(presets.AttackOptions([str(not_a_preset)]), {})


def test_a_project_preset_in_configs_attacks_of_the_working_directory_is_found(tmp_path, monkeypatch):
    (tmp_path / "configs" / "attacks").mkdir(parents=True)
    (tmp_path / "configs" / "attacks" / "mine.yaml").write_text(
        "class_path: advconf.callbacks.AttackEvaluation\ninit_args: {name: mine, attack: {class_path: advconf.attacks.FGSM}}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert "mine" in presets.available() and "pgd" in presets.available()
    (callback,) = presets.build(presets.AttackOptions(["mine"]), {})
    assert callback.name == "mine"
