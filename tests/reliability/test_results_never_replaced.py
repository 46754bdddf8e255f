"""Issue 16's evaluation rows: results are never silently replaced by a different kind of result,
every run says what it wrote, and `limit_test_batches 1` is one batch."""

import pytest

from tests.helpers import read_json, run_cli, tiny_spheres_config


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny spheres run, fitted and evaluated with FGSM on its whole test set (200 examples)."""
    root = tmp_path_factory.mktemp("kinds")
    config = tiny_spheres_config(root, name="kinds")
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1"])
    run_dir = root / "checkpoints" / "kinds"
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm"])
    return config, run_dir


def fgsm(run_dir, stem="fgsm"):
    return read_json(run_dir / "results" / f"{stem}.json")


def test_fewer_examples_write_beside_the_full_result_and_say_where(evaluated, capsys):
    config, run_dir = evaluated
    full = (run_dir / "results" / "fgsm.json").read_bytes()
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--trainer.limit_test_batches", "2"])
    assert (run_dir / "results" / "fgsm.json").read_bytes() == full
    assert fgsm(run_dir, "fgsm-100examples")["num_examples"] == 100  # two batches of 50
    out = capsys.readouterr().out
    assert "written beside it" in out and str(run_dir / "results" / "fgsm-100examples.json") in out


def test_limit_test_batches_one_means_one_batch(evaluated):
    config, run_dir = evaluated
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--trainer.limit_test_batches", "1"])
    assert fgsm(run_dir, "fgsm-50examples")["num_examples"] == 50
    assert fgsm(run_dir)["num_examples"] == 200


def test_an_untrained_model_never_replaces_a_trained_result(evaluated, capsys):
    config, run_dir = evaluated
    full = (run_dir / "results" / "fgsm.json").read_bytes()
    run_cli(["test", "--config", config, "--attack", "fgsm"])  # no --ckpt_path: a random model
    assert (run_dir / "results" / "fgsm.json").read_bytes() == full
    untrained = fgsm(run_dir, "fgsm-untrained")
    assert untrained["checkpoint"] is None and untrained["checkpoint_step"] is None
    assert "fgsm-untrained.json" in capsys.readouterr().out


def test_overwrite_replaces_on_request(evaluated):
    config, run_dir = evaluated
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--trainer.limit_test_batches", "1", "--attack.overwrite", "true", "--attack.name", "fgsm-copy"])
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--attack.name", "fgsm-copy"])
    assert fgsm(run_dir, "fgsm-copy")["num_examples"] == 200  # more examples: replaces without asking
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--trainer.limit_test_batches", "1", "--attack.overwrite", "true", "--attack.name", "fgsm-copy"])
    assert fgsm(run_dir, "fgsm-copy")["num_examples"] == 50
    assert not (run_dir / "results" / "fgsm-copy-50examples.json").exists()


def test_results_say_which_checkpoint_step_was_evaluated(evaluated):
    _, run_dir = evaluated
    result = fgsm(run_dir)
    assert result["checkpoint"].endswith("last.ckpt") and result["checkpoint_step"] == 20  # 1000 / 50 batches
    assert result["checkpoint_epoch"] == 0 and result["box"] is None  # spheres: unbounded


def test_budgets_written_as_fractions_are_accepted_on_the_command_line_and_in_configs(evaluated, tmp_path):
    config, run_dir = evaluated
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm",
             "--attack.eps", "[2/255, 8/255]", "--attack.name", "fractions"])
    assert fgsm(run_dir, "fractions")["eps"] == [pytest.approx(2 / 255), pytest.approx(8 / 255)]
    overlay = tmp_path / "budgets.yaml"
    overlay.write_text("attack_defaults:\n  fgsm:\n    eps: [1/10, 0.2]\n    name: from-config\n")
    run_cli(["test", "--config", config, "--config", overlay, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm"])
    assert fgsm(run_dir, "from-config")["eps"] == [pytest.approx(0.1), 0.2]


def test_wandb_online_without_a_key_logs_offline_within_seconds_with_one_line(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from tests.helpers import REPO

    config = tiny_spheres_config(tmp_path, name="online")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HOME=str(tmp_path), NETRC=str(tmp_path / "no-netrc"))
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "advconf", "fit", "--config", str(config), "--trainer.max_epochs", "1",
                          "--trainer.logger.init_args.offline", "false"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    notes = [line for line in run.stderr.splitlines() if "W&B cannot log online" in line]
    assert len(notes) == 1 and "no W&B API key" in notes[0] and "Traceback" not in run.stderr
    assert list((tmp_path / "checkpoints" / "online" / "wandb").glob("offline-run-*"))
    assert time.monotonic() - start < 120  # wandb.init alone would wait ~90 s before failing


@pytest.mark.parametrize("stage, moment", [("test", "test"), ("validate", "validation"), ("predict", "predict")])
def test_a_signal_outside_fit_ends_the_command_with_one_line_and_status_143_and_no_checkpoint(evaluated, capsys, stage, moment):
    config, run_dir = evaluated
    before = {p: p.read_bytes() for p in (run_dir / "ckpt").iterdir()}
    fault = '{"class_path": "tests.reliability.faults.SignalAt", "init_args": {"step": 0, "signal_name": "SIGTERM", "moment": "%s"}}' % moment
    args = [stage, "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", f"--trainer.callbacks+={fault}"]
    with pytest.raises(SystemExit) as stop:
        run_cli(args + (["--attack", "fgsm", "--attack.name", f"signalled-{stage}"] if stage == "test" else []))
    assert stop.value.code == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"advconf: error: interrupted by a signal during {stage}; no checkpoint was written"
    assert {p: p.read_bytes() for p in (run_dir / "ckpt").iterdir()} == before
    assert not (run_dir / "results" / f"signalled-{stage}.json").exists()  # stopped after the first of 4 batches
