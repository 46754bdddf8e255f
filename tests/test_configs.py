"""Every config in configs/ parses by itself with `advconf fit --print_config`, and so does every
sweep line.

Every YAML is a complete experiment (no overlay that only works stacked on another file). Sweep lines
are either `CONFIG [ARGS]` or `ROW ARGS` on top of the base named in LABELLED_SWEEPS.
"""

import contextlib
import io
import shlex
from pathlib import Path

import pytest
import yaml

from advconf.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
YAMLS = sorted(CONFIGS.glob("*.yaml"))
SWEEP_FILES = sorted(CONFIGS.glob("*.txt"))
LABELLED_SWEEPS = {  # sweep file -> base config
    "table1_sweep.txt": "configs/table1_logreg.yaml",
    "study_confidence_sweep.txt": "configs/study_confidence.yaml",
}


def sweep_runs(sweep: Path) -> list[tuple[str, list[str]]]:
    """(label, `advconf fit` arguments) of each line."""
    runs = []
    for line in sweep.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        first, _, rest = line.partition(" ")
        if first.endswith((".yaml", ".yml")):
            runs.append(("+".join(Path(a).stem for a in shlex.split(line) if a.endswith(".yaml")), ["--config", *shlex.split(line)]))
        else:
            assert sweep.name in LABELLED_SWEEPS, f"{sweep.name}: lines start with a label; add its base config to LABELLED_SWEEPS"
            runs.append((first, ["--config", LABELLED_SWEEPS[sweep.name], *shlex.split(rest)]))
    return runs


RUNS = [(sweep.name, label, args) for sweep in SWEEP_FILES for label, args in sweep_runs(sweep)]


def print_config(args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(ROOT)  # sweep lines name configs relative to the repository root
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["fit", *args, "--print_config"])
    assert exit_.value.code in (0, None), out.getvalue()
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("config", YAMLS, ids=[p.stem for p in YAMLS])
def test_every_config_parses_by_itself(config, monkeypatch):
    resolved = print_config(["--config", str(config)], monkeypatch)
    assert resolved["model"]["model"]["class_path"].startswith("advconf.models.")


@pytest.mark.parametrize("sweep, label, args", RUNS, ids=[f"{s.removesuffix('.txt')}-{label}" for s, label, _ in RUNS])
def test_sweep_line_parses_into_its_own_run_directory(sweep, label, args, monkeypatch):
    resolved = print_config(args, monkeypatch)
    callbacks = [cb for cb in resolved["trainer"]["callbacks"] if cb["class_path"].endswith("ModelCheckpoint")]
    assert len(callbacks) == 1
    run_dir = resolved["trainer"]["default_root_dir"]
    assert Path(run_dir).name in label  # each row writes to a directory named after it
    assert callbacks[0]["init_args"]["dirpath"].startswith(run_dir)


def test_sweep_labels_are_unique():
    for sweep in SWEEP_FILES:
        labels = [label for label, _ in sweep_runs(sweep)]
        assert len(labels) == len(set(labels)), sweep.name


def test_table1_rows_quantise_the_single_layer(monkeypatch):
    """keep_first_last must be off: the logistic regression's one layer is both first and last."""
    for label, args in sweep_runs(CONFIGS / "table1_sweep.txt"):
        if any("Quantization" in a for a in args):
            assert "--trainer.callbacks.init_args.keep_first_last=false" in args, label


def test_readme_indexes_every_config_and_sweep():
    """Named in configs/README.md, or a line of a sweep list that is (the Table 3 rows)."""
    readme = (CONFIGS / "README.md").read_text()
    listed = {Path(a).name for sweep in SWEEP_FILES if sweep.name in readme for _, args in sweep_runs(sweep) for a in args}
    assert [p.name for p in [*YAMLS, *SWEEP_FILES] if p.name not in readme and p.name not in listed] == []
