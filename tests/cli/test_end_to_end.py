"""`advconf fit` then `advconf test --attack ...`, as a user runs them (in-process and as a subprocess)."""

import csv
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import REPO, cli_error, read_json, run_cli, tiny_spheres_config, wandb_tables


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny spheres model fitted once through the CLI; tests evaluate copies of its run directory."""
    root = tmp_path_factory.mktemp("fit")
    config = tiny_spheres_config(root)
    run_cli(["fit", "--config", config])
    return root, config


def test_fit_saves_config_checkpoints_and_wandb_run(trained):
    root, _ = trained
    run_dir = root / "checkpoints" / "tiny"
    assert (run_dir / "config.yaml").is_file()
    last = torch.load(run_dir / "ckpt" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2  # the final epoch of max_epochs 3, not the best-validation one
    wandb_files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert wandb_files, "WandbLogger wrote no offline run"
    # wandb's service process writes the run file; give it time to flush after the run closed
    deadline = time.monotonic() + 60
    while b"train/loss" not in wandb_files[0].read_bytes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert b"train/loss" in wandb_files[0].read_bytes()


def test_the_shipped_spheres_chunks_train_the_same_weights_as_one_step_per_batch(tmp_path):
    # configs/spheres*.yaml take 20 steps per Lightning batch; the tiny config takes one. 60 steps of
    # the MLP with batch norm (its running statistics included), validation and checkpoints.
    import yaml

    shipped = yaml.safe_load((REPO / "configs" / "spheres.yaml").read_text())["model"]["steps_per_chunk"]
    assert shipped == 20
    weights = {}
    for chunk in (1, shipped):
        config = tiny_spheres_config(tmp_path, name=f"chunk{chunk}")
        run_cli(["fit", "--config", config, "--model.steps_per_chunk", chunk, "--trainer.log_every_n_steps", 20,
                 "--trainer.logger", "false"])
        ckpt = torch.load(tmp_path / "checkpoints" / f"chunk{chunk}" / "ckpt" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == 60
        weights[chunk] = ckpt["state_dict"]
    assert weights[1].keys() == weights[shipped].keys()
    assert all(torch.equal(weights[1][k], weights[shipped][k]) for k in weights[1])


def test_test_with_pgd_writes_results_json_csv_png_and_wandb_table(trained):
    root, config = trained
    run_dir = root / "checkpoints" / "tiny"
    ckpt = run_dir / "ckpt" / "last.ckpt"
    run_cli(["test", "--config", config, "--ckpt_path", ckpt, "--attack", "pgd", "--attack.steps", "5",
             "--attack.eps", "[0.0, 0.05, 0.1, 0.2, 0.4]"])
    result = read_json(run_dir / "results" / "pgd.json")
    assert result["name"] == "pgd"
    assert result["attack"]["class_path"].endswith("PGD")
    assert result["attack"]["params"]["steps"] == 5
    assert result["eps"] == [0.0, 0.05, 0.1, 0.2, 0.4]
    assert result["num_examples"] == 200
    assert result["checkpoint"] == str(ckpt)
    saved = torch.load(ckpt, weights_only=True)
    assert (result["checkpoint_step"], result["checkpoint_epoch"]) == (saved["global_step"], saved["epoch"])
    accuracy = [row["accuracy"] for row in result["results"]]
    assert accuracy[0] == pytest.approx(result["clean"]["accuracy"])
    assert result["clean"]["accuracy"] > 0.9
    assert accuracy[-1] < 0.05  # eps 0.4 exceeds the 0.3 gap between the circles
    # Skipping decided examples never reports more robustness than attacking every example.
    run_cli(["test", "--config", config, "--ckpt_path", ckpt, "--attack", "pgd", "--attack.steps", "5",
             "--attack.eps", "[0.0, 0.05, 0.1, 0.2, 0.4]", "--attack.skip_decided", "false", "--attack.name", "pgd-full"])
    full = [row["accuracy"] for row in read_json(run_dir / "results" / "pgd-full.json")["results"]]
    assert all(a <= b + 1e-9 for a, b in zip(accuracy, full)), (accuracy, full)
    with open(run_dir / "results" / "pgd.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["accuracy"]) for r in rows] == pytest.approx(accuracy)
    assert (run_dir / "results" / "pgd.png").read_bytes()[:4] == b"\x89PNG"
    tables = wandb_tables(run_dir, "pgd")
    assert tables and [row[2] for row in tables[-1]["data"]] == pytest.approx(accuracy)
    assert (run_dir / "test-config.yaml").is_file() and (run_dir / "config.yaml").is_file()


def test_two_presets_in_one_run_and_experiment_defaults_apply(trained):
    root, config = trained
    run_dir = root / "checkpoints" / "tiny"
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt",
             "--attack", "fgsm", "--attack", "pgd", "--attack.steps", "3"])
    fgsm, pgd = read_json(run_dir / "results" / "fgsm.json"), read_json(run_dir / "results" / "pgd.json")
    # configs/spheres.yaml's attack_defaults replace the image-scale grids of the presets
    assert fgsm["eps"] == pgd["eps"] == [0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3]
    assert "steps" not in fgsm["attack"]["params"] and pgd["attack"]["params"]["steps"] == 3


def test_a_fresh_fit_into_a_run_directory_with_checkpoints_is_refused(trained, capsys):
    root, config = trained
    last = root / "checkpoints" / "tiny" / "ckpt" / "last.ckpt"
    before = last.read_bytes()
    msg = cli_error(["fit", "--config", config, "--trainer.max_epochs", "1"], capsys)
    assert "already holds a run's checkpoints" in msg and "--ckpt_path last" in msg
    assert last.read_bytes() == before


def test_resuming_in_the_same_run_directory_rewrites_config_yaml(tmp_path):
    # A requeued or resumed job writes its config again instead of failing on the existing file.
    config = tiny_spheres_config(tmp_path, name="again")
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1"])
    saved = tmp_path / "checkpoints" / "again" / "config.yaml"
    assert "max_epochs: 1" in saved.read_text()
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert "max_epochs: 2" in saved.read_text()
    assert torch.load(tmp_path / "checkpoints" / "again" / "ckpt" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_cli_as_a_subprocess_with_python_m(tmp_path):
    config = tiny_spheres_config(tmp_path, name="sub")
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "advconf", *map(str, args)],  # noqa: E731
                                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    fit = run("fit", "--config", config, "--trainer.max_epochs", "1")
    assert fit.returncode == 0, fit.stderr[-2000:]
    ckpt = tmp_path / "checkpoints" / "sub" / "ckpt" / "last.ckpt"
    test = run("test", "--config", config, "--ckpt_path", ckpt, "--attack", "fgsm", "--attack.eps", "0.1")
    assert test.returncode == 0, test.stderr[-2000:]
    assert "fgsm: 200 examples" in test.stdout
    result = read_json(tmp_path / "checkpoints" / "sub" / "results" / "fgsm.json")
    assert result["eps"] == [0.1] and result["num_examples"] == 200


def test_print_config_shows_the_resolved_config(tmp_path, capsys):
    config = tiny_spheres_config(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", config, "--model.model.init_args.width", "7", "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "class_path: advconf.models.MLP" in out and "width: 7" in out


def test_attack_overrides_reach_the_attack_of_a_preset(trained):
    root, config = trained
    run_dir = root / "checkpoints" / "tiny"
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt",
             "--attack", "eot-pgd", "--attack.steps", "2", "--attack.gradient_samples", "3", "--attack.eps", "0.1",
             "--attack.masking_checks", "false"])
    attack = read_json(run_dir / "results" / "eot-pgd.json")["attack"]
    assert attack["params"]["gradient_samples"] == 3 and attack["params"]["steps"] == 2