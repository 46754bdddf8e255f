"""Wall time of the whole paper Table 1: every row of ``configs/table1_sweep.txt`` trained in turn.

Each row is ``advconf fit --config configs/table1_logreg.yaml ROW_ARGS`` (50,000 Adam steps of batch 128,
the shipped config with its W&B logger, progress bar, checkpoints and validation), one process
after another, on Fashion-MNIST sandal (5) vs sneaker (7) from the Debian files (11,000 training
images after the config's validation split; MNIST 3 vs 7 is the same size). Optionally each row's
``advconf test --attack fgsm`` too. Prints one line per row and writes ``benchmarks/results/table1_time.json``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/table1_time.py            # the whole table
    .venv/bin/python benchmarks/table1_time.py --steps 500 --rows 4a 4f      # a smoke run
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from advconf.sweeps import sweep_rows as read_sweep_rows

REPO = Path(__file__).resolve().parents[1]
FASHION = ["--data.init_args.dataset=fashion_mnist", "--data.init_args.data_dir=/usr/share/datasets/fashion-mnist",
           "--data.init_args.classes=[5, 7]"]


def sweep_rows() -> dict[str, list[str]]:
    return {row: args for _, row, args in read_sweep_rows(REPO / "configs" / "table1_sweep.txt")}


def advconf(args: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``advconf`` command and the processes it waited for (its
    output goes to ``log``); fails loudly. On a shared machine the CPU time is the steadier figure."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(REPO)}
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "advconf", *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args[:3])} failed ({done.returncode}); see {log}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--rows", nargs="*", help="row names (default: every row of the sweep)")
    parser.add_argument("--test", action="store_true", help="also time each row's advconf test --attack fgsm")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "table1_time.json")
    args = parser.parse_args()
    rows = sweep_rows()
    chosen = args.rows or list(rows)
    config = str(REPO / "configs" / "table1_logreg.yaml")
    results, load_before = [], os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="table1-") as tmp:
        work = Path(tmp)
        for name in chosen:
            fit, fit_cpu = advconf(["fit", "--config", config, *FASHION, f"--trainer.max_steps={args.steps}", *rows[name]], work, work / f"{name}.log")
            row = {"row": name, "fit_s": fit, "fit_cpu_s": fit_cpu, "load": os.getloadavg()[0]}
            if args.test:
                run = work / "checkpoints" / "table1" / name
                row["test_s"], row["test_cpu_s"] = advconf(["test", "--config", str(run / "config.yaml"), "--ckpt_path",
                                                            str(run / "ckpt" / "last.ckpt"), "--attack", "fgsm"], work, work / f"{name}-test.log")
            results.append(row)
            print(f"{name:>5}  fit {fit:7.1f} s (CPU {fit_cpu:6.1f} s)" + (f"  test {row['test_s']:6.1f} s" if args.test else "")
                  + f"  load {row['load']:.1f}", flush=True)
    total = sum(r["fit_s"] + r.get("test_s", 0.0) for r in results)
    cpu = sum(r["fit_cpu_s"] + r.get("test_cpu_s", 0.0) for r in results)
    report = {"steps": args.steps, "rows": results, "total_s": total, "total_cpu_s": cpu, "load_before": load_before,
              "load_after": os.getloadavg(), "cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(f"total {total:.0f} s ({total / 60:.1f} min) wall, {cpu:.0f} s CPU, for {len(results)} rows; "
          f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
