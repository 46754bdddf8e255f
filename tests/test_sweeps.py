"""Sweep lists: rows in order, comments and blank lines skipped, as slurm/sweep.sh reads them."""

from advconf.sweeps import sweep_rows
from tests.helpers import REPO


def test_rows_come_in_order_with_their_line_numbers_and_arguments(tmp_path):
    path = tmp_path / "sweep.txt"
    path.write_text("# a comment\n\na --x=1 --y=2\n  # indented comment\nb --z=3\n")
    assert sweep_rows(path) == [(3, "a", ["--x=1", "--y=2"]), (5, "b", ["--z=3"])]


def test_the_shipped_sweeps_have_the_papers_rows():
    table1 = [row for _, row, _ in sweep_rows(REPO / "configs" / "table1_sweep.txt")]
    assert table1[:2] == ["4a", "4b"] and len(table1) == 13
    assert len(sweep_rows(REPO / "configs" / "study_confidence_sweep.txt")) == 9
