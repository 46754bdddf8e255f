"""PGD throughput (image-steps/s) of ``advconf.attacks.PGD`` vs the hand-written loop, same model and data."""

from contextlib import nullcontext

import torch

from advconf.attacks import PGD
from advconf.models import ResNet18, VanillaCNN
from benchmarks.common import interleaved, plain_pgd

EPS = 8 / 255


def cases(quick: bool) -> dict[str, tuple[torch.nn.Module, tuple[int, ...], int]]:
    """name -> (model, input shape, steps). ResNet-18 keeps its ImageNet stem: 64 px stays affordable on CPU."""
    torch.manual_seed(0)
    return {
        "VanillaCNN nf=64, 28x28": (VanillaCNN(input_shape=[1, 28, 28], nf=64), (64 if quick else 128, 1, 28, 28), 10),
        "ResNet-18, 64x64": (ResNet18(num_classes=10, input_shape=[3, 64, 64]), (8 if quick else 32, 3, 64, 64), 3 if quick else 5),
    }


def run(quick: bool = False, device: str = "cpu", amp: bool = False, channels_last: bool = False) -> list[dict]:
    rows = []
    for name, (model, shape, steps) in cases(quick).items():
        model = model.to(device).eval()
        x = torch.rand(shape, generator=torch.Generator().manual_seed(1)).to(device)
        y = torch.randint(0, 10, (shape[0],), generator=torch.Generator().manual_seed(2)).to(device)
        if channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        attack = PGD(steps=steps, step_size=EPS / 4, seed=0)
        autocast = (lambda: torch.autocast(device, dtype=torch.float16)) if amp else nullcontext

        def advconf_side():
            with autocast():
                out = attack(model, x, y, eps=EPS)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        def plain_side():
            with autocast():
                out = plain_pgd(model, x, y, EPS, EPS / 4, steps, seed=0)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        same = (advconf_side() - plain_side()).abs().max().item()
        times = interleaved({"advconf": advconf_side, "plain": plain_side}, repeats=3 if quick else 5)
        work = shape[0] * steps
        rows.append({
            "benchmark": f"PGD throughput, {name}" + (", AMP" if amp else "") + (", channels-last" if channels_last else ""),
            "advconf_image_steps_per_s": work / times["advconf"],
            "plain_image_steps_per_s": work / times["plain"],
            "ratio": times["plain"] / times["advconf"],  # > 1: advconf is faster
            "target": ">= 1.0",
            "max_abs_difference_of_outputs": same,
            "batch": shape[0], "steps": steps, "device": device,
        })
    return rows
