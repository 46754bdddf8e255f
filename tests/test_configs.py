"""Every experiment config (and every sweep row) parses with `advconf fit --print_config`."""

import contextlib
import io
import shlex
from pathlib import Path

import pytest
import yaml

from advconf.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPERIMENTS = sorted(CONFIGS.glob("*.yaml"))
# sweep file -> (base config, checkpoint folder of its rows)
SWEEPS = {"table1_sweep.txt": ("table1_logreg.yaml", "table1"), "table3_sweep.txt": ("table3_resnet18_imagenet.yaml", "table3")}
ROWS = [
    (sweep, *line.split(maxsplit=1))
    for sweep in SWEEPS
    for line in (CONFIGS / sweep).read_text().splitlines()
    if line and not line.startswith("#")
]


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


@pytest.mark.parametrize("sweep, row, args", ROWS, ids=[f"{sweep[:6]}-{row}" for sweep, row, _ in ROWS])
def test_sweep_row_parses_with_its_own_directories(sweep, row, args):
    base, folder = SWEEPS[sweep]
    resolved = print_config(["--config", str(CONFIGS / base), *shlex.split(args)])
    callbacks = {cb["class_path"].rsplit(".", 1)[1]: cb.get("init_args", {}) for cb in resolved["trainer"]["callbacks"]}
    assert callbacks["ModelCheckpoint"]["dirpath"] == f"checkpoints/{folder}/{row}/ckpt"
    assert resolved["trainer"]["default_root_dir"] == f"checkpoints/{folder}/{row}"
    if sweep == "table1_sweep.txt" and "Quantization" in callbacks:
        assert callbacks["Quantization"]["keep_first_last"] is False  # the one layer is first and last


def test_readme_indexes_every_config():
    readme = (CONFIGS / "README.md").read_text()
    missing = [p.name for p in [*EXPERIMENTS, *(CONFIGS / sweep for sweep in SWEEPS)] if p.name not in readme]
    assert not missing
