"""``advconf report RUNS... --out DIR [--wandb]``: tables and curves of many runs as Markdown, CSV and PNG."""

import argparse
import sys
from pathlib import Path

from advconf.errors import AdvconfError
from advconf.report.collect import collect
from advconf.report.render import SECTIONS, write_report


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, like the rest of advconf (argparse would print the usage first).
        raise AdvconfError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="advconf report", description=__doc__, allow_abbrev=False)
    p.add_argument(
        "runs", nargs="+", help="run directories (searched recursively), results .json files, or sweep lists (ROW ARGS lines)"
    )
    p.add_argument("--out", required=True, type=Path, help="folder for report.md and its CSV/PNG files")
    p.add_argument("--attack", default="fgsm", help="evaluation shown in the Table 1 and Table 3 layouts (default: fgsm)")
    p.add_argument(
        "--eps", type=float, default=0.1, help="budget of the Table 1 layout and of the confidence section (default: 0.1, as in Table 1)"
    )
    p.add_argument(
        "--nonexamples", default=None, help="non-example evaluation to read (default: non-examples, else fooling, whichever a run has)"
    )
    p.add_argument(
        "--robust-attack",
        default=None,
        help="evaluation whose accuracy at --eps the confidence section correlates with (default: autoattack if the runs have it, else pgd)",
    )
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="what to render (default: all)")
    p.add_argument("--wandb", action="store_true", help="also log the tables and plots to an offline W&B run under --out")
    return p


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
        runs = collect(args.runs)
        if args.out.exists() and not args.out.is_dir():
            raise AdvconfError(f"--out {args.out} exists and is not a directory")
        args.out.mkdir(parents=True, exist_ok=True)
        tables = write_report(runs, args.out, args.attack, args.eps, args.nonexamples, args.sections, args.robust_attack)
        if args.wandb:
            from advconf.report.wandb_log import log_report

            log_report(args.out, tables)
    except AdvconfError as error:
        print(f"advconf: error: {error}", file=sys.stderr)
        return 2
    missing = sum(run.missing for run in runs)
    print(f"advconf report: {len(runs)} runs ({missing} missing) -> {args.out / 'report.md'}")
    return 0
