"""Every experiment config (and every Table 1 sweep row) parses with `advconf fit --print_config`."""

import contextlib
import io
import shlex
from pathlib import Path

import pytest
import yaml

from advconf.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPERIMENTS = sorted(CONFIGS.glob("*.yaml"))
SWEEP = [line.split(maxsplit=1) for line in (CONFIGS / "table1_sweep.txt").read_text().splitlines() if line and not line.startswith("#")]


def print_config(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["fit", *args, "--print_config"])
    assert exit_.value.code in (0, None), out.getvalue()
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("config", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_config_parses(config):
    resolved = print_config(["--config", str(config)])
    assert resolved["model"]["model"]["class_path"].startswith("advconf.models.")


@pytest.mark.parametrize("row, args", SWEEP, ids=[row for row, _ in SWEEP])
def test_table1_sweep_row_parses_with_its_own_directories(row, args):
    resolved = print_config(["--config", str(CONFIGS / "table1_logreg.yaml"), *shlex.split(args)])
    callbacks = {cb["class_path"].rsplit(".", 1)[1]: cb.get("init_args", {}) for cb in resolved["trainer"]["callbacks"]}
    assert callbacks["ModelCheckpoint"]["dirpath"] == f"checkpoints/table1/{row}/ckpt"
    if "Quantization" in callbacks:
        assert callbacks["Quantization"]["keep_first_last"] is False  # the one layer is first and last


def test_readme_indexes_every_config():
    readme = (CONFIGS / "README.md").read_text()
    missing = [p.name for p in [*EXPERIMENTS, CONFIGS / "table1_sweep.txt"] if p.name not in readme]
    assert not missing
