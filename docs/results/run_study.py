"""The issue-15 study — does a more confident model have lower robust accuracy? (docs/reproducing.md)

    python docs/results/run_study.py [ROW ...] [--steps N] [--test-batches N] [--runs DIR] [--out DIR] [--no-report | --report-only]

Fits every row of configs/study_confidence_sweep.txt (or the ROWs given) on configs/study_confidence.yaml
into RUNS/ROW (default checkpoints/study_confidence/ROW; a fit is skipped when its last checkpoint
exists), evaluates each with PGD-20 (eps 0.02, 0.05, 0.1; masking checks on 100 images), the
constant offset and non-examples (5 per class) on the first TEST_BATCHES batches of 128 test images,
then writes the report to OUT (default docs/results/study_confidence): `advconf report` over the
runs, with the confidence section at eps REPORT_EPS. Everything runs in this one process
(``advconf.cli.main``); each call is printed as the equivalent shell command, then its duration. A failed call is
recorded and the rest still run (the report shows what is missing); the exit code says whether any failed.
"""

import argparse
import os
import sys
from pathlib import Path

from advconf.sweeps import sweep_rows as read_sweep_rows
from run_all import FAILED, QUIET, advconf  # this folder is on sys.path when the script runs

REPO = Path(__file__).resolve().parents[2]
BASE = "configs/study_confidence.yaml"
SWEEP = REPO / "configs" / "study_confidence_sweep.txt"
RUNS = "checkpoints/study_confidence"
REPORT_EPS = 0.05


def sweep_rows(runs: str) -> dict[str, list[str]]:
    """ROW -> its overrides, with the run directories moved under ``runs``."""
    return {row: [a.replace(f"{RUNS}/", f"{runs}/") for a in args] for _, row, args in read_sweep_rows(SWEEP)}


def fit_and_evaluate(row: str, overrides: list[str], runs: str, steps: int | None, test_batches: int) -> None:
    config = ["--config", BASE, *overrides]
    run_dir = f"{runs}/{row}"
    if not (REPO / run_dir / "ckpt" / "last.ckpt").is_file():
        advconf("fit", *config, *QUIET, *([f"--trainer.max_steps={steps}"] if steps else []))
    advconf(
        "test", *config, *QUIET, "--ckpt_path", f"{run_dir}/ckpt/last.ckpt",
        "--attack", "pgd", "--attack", "offset", "--attack", "non-examples", "--attack.per_class", "5",
        f"--trainer.limit_test_batches={test_batches}",
    )


def main_study(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", nargs="*", help="rows of the sweep list (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the base config's)")
    parser.add_argument(
        "--test-batches", type=int, default=8, help="test batches of 128 evaluated (default 8: 1,024 images)"
    )
    parser.add_argument("--runs", default=RUNS, help=f"folder of the run directories (default {RUNS})")
    parser.add_argument("--out", default="docs/results/study_confidence", help="report folder")
    parser.add_argument("--no-report", action="store_true", help="fit and evaluate only")
    parser.add_argument("--report-only", action="store_true", help="only render the report from the runs' results")
    args = parser.parse_args(argv)
    rows = sweep_rows(args.runs)
    unknown = [row for row in args.rows if row not in rows]
    if unknown:
        parser.error(f"unknown rows {unknown}; the sweep has {list(rows)}")
    for row in [] if args.report_only else args.rows or rows:
        fit_and_evaluate(row, rows[row], args.runs, args.steps, args.test_batches)
    if not args.no_report:
        advconf("report", *(f"{args.runs}/{row}" for row in args.rows or rows), "--out", args.out, "--eps", str(REPORT_EPS),
                "--attack", "pgd", "--sections", "table1", "curves", "nonexamples", "confidence")
    for command in FAILED:
        print("FAILED: advconf", command, file=sys.stderr)
    return 1 if FAILED else 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main_study(sys.argv[1:]))
