"""Training-step time of DoReFa-quantised models relative to full precision, same model and data.

    .venv/bin/python benchmarks/quant_step_time.py [--model cnn|mlp] [--steps 30] [--threads 1]

One step = forward, loss, backward and an Adam update. The configurations take turns (round robin)
so that machine load drifts hit all of them alike; the median step time of each is reported.
Prints a Markdown table and writes it to benchmarks/results/quant_step_time_<model>.md.
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from advconf.models import MLP, VanillaCNN
from advconf.quant import quantize_model

CONFIGS = {"FP (W32A32G32)": (32, 32, 32), "W1A2G32": (1, 2, 32), "W2A2G6": (2, 2, 6)}


def build(model_name: str, bits: tuple[int, int, int]) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    if model_name == "cnn":  # paper Table 2 CNN on MNIST-sized inputs, batch norm as with low precision
        model, x = VanillaCNN(nf=64, batch_norm=True), torch.rand(128, 1, 28, 28)
        y = torch.randint(0, 10, (128,))
    else:  # the Fig 5 spheres MLP
        model, x = MLP(in_features=2, num_outputs=2, depth=2, width=1000), torch.randn(50, 2)
        y = torch.randint(0, 2, (50,))
    w, a, g = bits
    quantize_model(model, x[:2], weight_bits=w, activation_bits=a, gradient_bits=g)
    return model.train(), x, y


def step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    runs = {}
    for name, bits in CONFIGS.items():
        model, x, y = build(args.model, bits)
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-4), x, y, [])
    for i in range(args.warmup + args.steps):
        for model, optimizer, x, y, times in runs.values():
            elapsed = step(model, optimizer, x, y)
            if i >= args.warmup:
                times.append(elapsed)

    base = statistics.median(runs["FP (W32A32G32)"][4])
    lines = [
        f"model: {args.model}, batch {len(runs['W1A2G32'][2])}, {args.steps} steps each (median), "
        f"{args.threads} thread(s), torch {torch.__version__}, CPU",
        "",
        "| configuration | step time (ms) | relative to FP |",
        "|---|---:|---:|",
    ]
    for name, (*_, times) in runs.items():
        median = statistics.median(times)
        lines.append(f"| {name} | {median * 1e3:.1f} | {median / base:.2f}x |")
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results" / f"quant_step_time_{args.model}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")


if __name__ == "__main__":
    main()
