"""Installed from a wheel (not editable), advconf works from any directory: presets ship in the package."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPO, tiny_spheres_config


def run(*args: object, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_a_wheel_installed_into_a_fresh_environment_runs_test_with_a_preset_from_an_empty_directory(tmp_path):
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, REPO, cwd=tmp_path)
    (wheel,) = wheels.glob("advconf-*.whl")
    # A fresh environment that sees the installed dependencies (torch, lightning...) but not the
    # editable checkout: the dependencies' site directory goes on sys.path without its .pth files.
    env_dir = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    fresh_python = env_dir / "bin" / "python"
    fresh_site = Path(run(fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout.strip())
    (fresh_site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", fresh_python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp_path)

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    where = run(fresh_python, "-c", "import advconf; print(advconf.__file__)", cwd=empty, env=env).stdout
    assert where.startswith(str(env_dir)), where  # the installed copy, not the checkout
    config = tiny_spheres_config(tmp_path, name="installed")
    advconf = env_dir / "bin" / "advconf"
    run(advconf, "fit", "--config", config, "--trainer.max_epochs", "1", cwd=empty, env=env)
    ckpt = tmp_path / "checkpoints" / "installed" / "ckpt" / "last.ckpt"
    test = run(advconf, "test", "--config", config, "--ckpt_path", ckpt, "--attack", "pgd", "--attack.steps", "2",
               "--attack.masking_checks", "false", cwd=empty, env=env)
    assert "pgd: 200 examples" in test.stdout
    assert (tmp_path / "checkpoints" / "installed" / "results" / "pgd.json").is_file()
