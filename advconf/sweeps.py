"""Sweep lists (``configs/table1_sweep.txt``, ``configs/study_confidence_sweep.txt``): one run per
``ROW ARGS`` line, blank lines and ``#`` comments ignored; slurm/sweep.sh reads the same format."""

import shlex
from pathlib import Path


def sweep_rows(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line number, row name, its ``advconf`` arguments) for every row of the sweep list, in order."""
    rows = []
    for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            row, *args = shlex.split(line)
            rows.append((number, row, args))
    return rows
