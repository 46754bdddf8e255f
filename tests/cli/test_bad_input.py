"""Bad input ends in a one-line error, a non-zero exit, and no damage to existing files."""

import shutil

import pytest
import torch
import yaml

from tests.helpers import cli_error, run_cli, tiny_spheres_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    config = tiny_spheres_config(root)
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1"])
    ckpt = root / "checkpoints" / "tiny" / "ckpt" / "last.ckpt"
    results = root / "checkpoints" / "tiny" / "results"
    results.mkdir()
    (results / "pgd.json").write_text("previous result")
    return config, ckpt


@pytest.fixture
def untouched(trained):
    """Asserts after the test that the checkpoint and the earlier result are byte-for-byte unchanged."""
    config, ckpt = trained
    before = ckpt.read_bytes()
    yield config, ckpt
    assert ckpt.read_bytes() == before
    assert (ckpt.parents[1] / "results" / "pgd.json").read_text() == "previous result"


def test_unknown_config_key(untouched, capsys):
    config, _ = untouched
    msg = cli_error(["fit", "--config", config, "--trainer.max_epoch", "3"], capsys)
    assert msg.startswith("advconf: error:") and "max_epoch" in msg


def test_unknown_key_inside_a_config_file(untouched, tmp_path, capsys):
    config, _ = untouched
    data = yaml.safe_load(config.read_text())
    data["data"]["init_args"]["radius"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    msg = cli_error(["fit", "--config", bad], capsys)
    assert "radius" in msg


def test_unknown_attack_lists_the_presets(untouched, capsys):
    config, ckpt = untouched
    msg = cli_error(["test", "--config", config, "--ckpt_path", ckpt, "--attack", "cw"], capsys)
    assert "unknown attack 'cw'" in msg and "fgsm" in msg and "pgd" in msg


@pytest.mark.parametrize("eps", ["-0.1", "[0.1, -0.2]", "abc", "nan"])
def test_bad_epsilon(untouched, capsys, eps):
    config, ckpt = untouched
    msg = cli_error(["test", "--config", config, "--ckpt_path", ckpt, "--attack", "pgd", "--attack.eps", eps], capsys)
    assert "eps" in msg


def test_override_that_no_selected_attack_has(untouched, capsys):
    config, ckpt = untouched
    msg = cli_error(["test", "--config", config, "--ckpt_path", ckpt, "--attack", "fgsm", "--attack.stepz", "3"], capsys)
    assert "stepz" in msg


def test_attack_with_fit_is_refused(untouched, capsys):
    config, _ = untouched
    assert "--attack works with test" in cli_error(["fit", "--config", config, "--attack", "pgd"], capsys)


def test_missing_checkpoint(untouched, tmp_path, capsys):
    config, _ = untouched
    msg = cli_error(["test", "--config", config, "--ckpt_path", tmp_path / "nope.ckpt", "--attack", "pgd"], capsys)
    assert "nope.ckpt does not exist" in msg


def test_truncated_checkpoint(untouched, tmp_path, capsys):
    config, ckpt = untouched
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(ckpt.read_bytes()[:1000])
    msg = cli_error(["test", "--config", config, "--ckpt_path", broken, "--attack", "pgd"], capsys)
    assert "cannot be loaded" in msg


def test_foreign_pickle_is_not_unpickled(untouched, tmp_path, capsys):
    config, _ = untouched
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "evil": shutil.rmtree}, foreign)  # a global that weights_only refuses
    msg = cli_error(["test", "--config", config, "--ckpt_path", foreign], capsys)
    assert "cannot be loaded" in msg


def test_checkpoint_from_a_different_architecture(untouched, capsys):
    config, ckpt = untouched
    msg = cli_error(["test", "--config", config, "--ckpt_path", ckpt, "--model.model.init_args.width", "16",
                     "--attack", "pgd"], capsys)
    assert "different architecture" in msg and "shape" in msg


def test_data_of_the_wrong_shape_for_the_architecture(untouched, capsys):
    config, _ = untouched
    msg = cli_error(["fit", "--config", config, "--data.init_args.dim", "3", "--trainer.max_epochs", "1",
                     "--trainer.default_root_dir", config.parent / "other"], capsys)
    assert "expects inputs of shape (2,)" in msg and "(3,)" in msg
