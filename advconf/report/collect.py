"""Find the runs behind the paths given to ``advconf report`` and load their results files.

A run is a directory holding ``results/<name>.json`` (one per evaluation) and usually the resolved
``config.yaml`` of its fit. A run that exists but has no results yet is kept, with no results: the
report shows it as missing instead of failing, so a half-finished sweep can be looked at.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from advconf.errors import AdvconfError
from advconf.sweeps import sweep_rows

ROOT_DIR_OPTION = "--trainer.default_root_dir"


@dataclass
class Run:
    label: str
    directory: Path
    # evaluation name -> results JSON; other JSON files of results/ (decision_boundary, filters) by file name
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # resolved config, {} if none was saved

    @property
    def missing(self) -> bool:
        return not self.results


def collect(paths: list[str | Path]) -> list[Run]:
    """Runs in the order given: results files, run directories (searched recursively) or sweep lists."""
    runs: dict[Path, Run] = {}
    for given in map(Path, paths):
        if not given.exists():
            raise AdvconfError(f"no such file or directory: {given}")
        for label, directory, files in _runs_in(given):
            run = runs.setdefault(directory.resolve(), Run(label, directory, config=_read_config(directory)))
            for file in files:
                payload = read_results(file)
                run.results[payload.get("name", file.stem)] = payload
    return list(runs.values())


def _runs_in(given: Path) -> list[tuple[str, Path, list[Path]]]:
    """(label, run directory, results files) for one path given on the command line."""
    if given.is_dir():
        return _runs_under(given)
    if given.suffix == ".json":
        directory = given.parent.parent if given.parent.name == "results" else given.parent
        return [(directory.name, directory, [given])]
    return [(label, directory, _results_files(directory)) for label, directory in read_sweep(given)]


def _runs_under(root: Path) -> list[tuple[str, Path, list[Path]]]:
    # A run directory holds results/*.json or the config.yaml of a fit (a run not yet evaluated).
    found = {p.parent.parent for p in root.rglob("results/*.json")} | {p.parent for p in root.rglob("config.yaml")}
    if not found:
        return [(root.name, root, [])]
    return [
        (directory.relative_to(root).as_posix() if directory != root else root.name, directory, _results_files(directory))
        for directory in sorted(found)
    ]


def _results_files(directory: Path) -> list[Path]:
    return sorted((directory / "results").glob("*.json"))


def read_sweep(path: Path) -> list[tuple[str, Path]]:
    """(row, run directory) of each ``ROW ARGS`` line of a sweep list such as configs/table1_sweep.txt.

    The run directory is the row's ``--trainer.default_root_dir``, relative to the working directory.
    """
    rows = []
    for number, row, args in sweep_rows(path):
        directory = next((a.partition("=")[2] for a in args if a.startswith(ROOT_DIR_OPTION + "=")), None)
        if directory is None:
            raise AdvconfError(f"{path}:{number}: row {row!r} sets no {ROOT_DIR_OPTION}=DIR, so its results cannot be found")
        rows.append((row, Path(directory)))
    if not rows:
        raise AdvconfError(f"{path} is neither a results .json, a directory nor a sweep list with rows")
    return rows


def read_results(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AdvconfError(f"{path} is not a readable results file: {' '.join(str(error).split())}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("name", path.stem), str):
        raise AdvconfError(f"{path} is not an advconf results file (not a JSON object with a string 'name')")
    return payload


def _read_config(directory: Path) -> dict[str, Any]:
    """The fit's config.yaml, else the config of a test run (e.g. an untrained model evaluated)."""
    for name in ("config.yaml", "test-config.yaml"):
        path = directory / name
        if path.is_file():
            try:
                config = yaml.safe_load(path.read_text())
            except yaml.YAMLError:
                return {}  # the config only adds notes to the tables; the results stand without it
            return config if isinstance(config, dict) else {}
    return {}
