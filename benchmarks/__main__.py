"""``python -m benchmarks [--quick] [--threads N] [--only NAME ...]``: run the suite, print a table, save JSON.

benchmarks/quant_step_time.py, benchmarks/ffcv_loader.py and benchmarks/table1_time.py are separate
commands with their own reports.
"""

import argparse
import json
import logging
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

from benchmarks import eval_memory, pgd_throughput, robust_eval, small_models, train_step
from benchmarks.common import machine

RESULTS = Path(__file__).parent / "results" / "latest.json"


def gpu(quick: bool) -> list[dict]:
    """The PGD suite on CUDA with AMP (float16 autocast) and channels-last memory layout."""
    if not torch.cuda.is_available():
        return [{"benchmark": "GPU: PGD throughput with AMP + channels-last", "skipped": "no CUDA device"}]
    return pgd_throughput.run(quick, device="cuda", amp=True, channels_last=True)


SUITE = {
    "pgd": pgd_throughput.run,
    "eval": robust_eval.run,
    "train": train_step.run,
    "small": small_models.run,
    "memory": eval_memory.run,
    "gpu": gpu,
}


def print_table(rows: list[dict]) -> None:
    print(f"\n{'benchmark':<110} {'ratio':>8}  target")
    for row in rows:
        ratio = row.get("ratio")
        shown = f"{ratio:8.2f}" if isinstance(ratio, float) else f"{row.get('skipped', ''):>8}"
        print(f"{row['benchmark'][:110]:<110} {shown}  {row.get('target', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for reporting)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both sides of every comparison")
    parser.add_argument("--only", nargs="*", choices=list(SUITE), default=list(SUITE))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    rows, started = [], time.perf_counter()
    for name in args.only:
        section = SUITE[name](args.quick)
        for row in section:
            row["section"] = name
        rows += section
        print_table(section)
    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "wall_s": time.perf_counter() - started,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print_table(rows)
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
