"""AutoAttack (standard, L∞): advconf's cascade vs torchattacks' ``AutoAttack``; what "only the still robust" saves.

``python -m benchmarks.autoattack [--quick] [--threads N]`` prints the rows and writes
``benchmarks/results/autoattack.json``; ``run(quick)`` returns the rows for the suite.

Times are CPU seconds of this process with one torch thread (``process_time``): on a machine shared with
other jobs they move far less than wall time, which is recorded next to them. Rows (ratio > 1: advconf is faster):
1. the cascade vs torchattacks' ``AutoAttack(version="standard")`` with its FAB-T and Square set to the
   reference's settings (100 FAB iterations, Square schedule not rescaled) — the same work on both sides;
2. the same cascade vs torchattacks' ``AutoAttack`` as it ships (10 FAB iterations, rescaled Square
   schedule: less work than the reference);
3. the cascade vs every stage run on every clean-correct example (what AutoAttack would cost without
   running each stage only on the examples all earlier stages left standing).
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import torch
import torchattacks

from advconf.attacks.cascade import AutoAttack
from advconf.models import VanillaCNN
from benchmarks.common import fashion_mnist, machine, train_quickly

RESULTS = Path(__file__).parent / "results" / "autoattack.json"
EPS = [0.02, 0.1]  # APGD-CE breaks a few / most of the clean-correct examples


def timed(fn):
    """(value, CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return value, time.process_time() - cpu, time.perf_counter() - wall


def torchattacks_autoattack(model, eps: float, steps: int, queries: int, as_shipped: bool):
    attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
    apgd, apgdt, fab, square = attack._autoattack.attacks
    apgd.steps = apgdt.steps = steps
    square.n_queries = queries
    if not as_shipped:  # the reference's settings (fra31/auto-attack autoattack.py, set_version("standard"))
        fab.steps = steps
        square.rescale_schedule = False
    return attack


def robust_accuracy(model, x_adv, y) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(dim=1) == y).float().mean().item()


def run(quick: bool = False) -> list[dict]:
    n, steps, queries = (40, 20, 500) if quick else (100, 100, 5000)
    torch.manual_seed(0)
    model = train_quickly(VanillaCNN(nf=16), *fashion_mnist(True, 20_000), steps=100 if quick else 300)
    x, y = fashion_mnist(False, n)
    return [row for eps in EPS for row in compare(model, x, y, eps, steps, queries)]


def compare(model, x, y, eps: float, steps: int, queries: int) -> list[dict]:
    cascade = AutoAttack(steps=steps, queries=queries, seed=0)
    result, advconf_s, advconf_wall = timed(lambda: cascade.run(model, x, y, eps))
    same = timed(lambda: torchattacks_autoattack(model, eps, steps, queries, as_shipped=False)(x, y))
    shipped = timed(lambda: torchattacks_autoattack(model, eps, steps, queries, as_shipped=True)(x, y))

    # Every stage on every clean-correct example: the cost without the cascade's ordering.
    index = result.clean_correct.nonzero().flatten()
    alone = [timed(lambda a=attack: a(model, x[index], y[index], eps)) for attack in cascade.attacks.values()]
    every_stage_s, every_stage_wall = sum(t[1] for t in alone), sum(t[2] for t in alone)

    size = f"{len(x)} Fashion-MNIST images, VanillaCNN nf=16, eps {eps}, APGD/FAB {steps} it., Square {queries} queries"
    common = {
        "eps": eps,
        "advconf_s": advconf_s,
        "advconf_wall_s": advconf_wall,
        "advconf_accuracy": result.accuracy(),
        "advconf_stage_s": result.seconds(),
        "masking_breaks": result.masking_breaks(),
    }
    return [
        {
            "benchmark": f"AutoAttack standard L∞, reference settings on both sides: advconf vs torchattacks, {size}",
            **common,
            "torchattacks_s": same[1],
            "torchattacks_wall_s": same[2],
            "torchattacks_accuracy": robust_accuracy(model, same[0], y),
            "ratio": same[1] / advconf_s,
            "target": ">= 1.0",
        },
        {
            "benchmark": f"AutoAttack standard L∞: advconf vs torchattacks as shipped (FAB 10 it.), {size}",
            **common,
            "torchattacks_s": shipped[1],
            "torchattacks_wall_s": shipped[2],
            "torchattacks_accuracy": robust_accuracy(model, shipped[0], y),
            "ratio": shipped[1] / advconf_s,
            "target": "none (less work on the torchattacks side)",
        },
        {
            "benchmark": f"AutoAttack cascade vs every stage on every clean-correct example, {size}",
            **common,
            "every_stage_s": every_stage_s,
            "every_stage_wall_s": every_stage_wall,
            "every_stage_accuracy_of_clean_correct": [robust_accuracy(model, t[0], y[index]) for t in alone],
            "ratio": every_stage_s / advconf_s,
            "target": "> 1.0",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not for reporting)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every side")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    rows = run(args.quick)
    for row in rows:
        print(f"{row['ratio']:6.2f}  {row['benchmark']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": machine(), "quick": args.quick, "rows": rows}, indent=1))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
