"""`ModelPictures`: what the weights look like — first-layer filters (paper Fig 8) and logistic-regression
weight images (Fig 4)."""

from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn

from advconf.errors import AdvconfError
from advconf.models import LogisticRegression
from advconf.plots import filter_grid, weight_image
from advconf.results import log_image, results_dir, save_figure, write_json

STAGES = ("fit", "test")


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """The weight the layer computes with: quantised for DoReFa layers, else the parameter."""
    with torch.no_grad():
        return (layer.quantized_weight() if hasattr(layer, "quantized_weight") else layer.weight).detach().cpu()


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    return next(((name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def near_zero_filters(weight: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2 norm of each filter, whether it is below ``fraction`` of the largest filter norm)."""
    norms = weight.flatten(1).norm(dim=1)
    return norms, norms < fraction * norms.max()


class ModelPictures(Callback):
    """Draw what applies to the model at the end of ``fit`` and/or ``test``:

    - the first ``nn.Conv2d`` (quantised ones included) → ``results/filters.png``, every filter on one
      shared scale (zero = grey), near-zero filters framed in red, and ``results/filters.json`` with
      the filter norms and the near-zero fraction. A filter is *near zero* when its L2 norm is below
      ``near_zero`` times the largest filter norm of the layer (the paper's Fig 8 model drops ≈72%);
    - ``advconf.models.LogisticRegression`` → ``results/weights.png``, the weight vector as an image
      of the model's ``input_shape``.

    Args:
        near_zero: threshold as a fraction of the largest filter norm.
        stages: when to draw: ``fit`` (end of training) and/or ``test``.
    """

    def __init__(self, near_zero: float = 0.1, stages: list[str] = list(STAGES)) -> None:
        if not 0 < near_zero < 1:
            raise AdvconfError(f"near_zero must be a fraction of the largest filter norm in (0, 1), got {near_zero}")
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise AdvconfError(f"ModelPictures stages must be among {list(STAGES)}, got {unknown}")
        self.near_zero = near_zero
        self.stages = list(stages)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if "fit" in self.stages:
            self.draw(trainer, pl_module)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if "test" in self.stages:
            self.draw(trainer, pl_module)

    def draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        model = getattr(pl_module, "model", pl_module)
        out = results_dir(trainer)
        conv = first_conv(model)
        if conv is not None:
            self.draw_filters(trainer, out, *conv)
        if isinstance(model, LogisticRegression):
            bits = getattr(model.linear, "weight_bits", 32)
            figure = weight_image(effective_weight(model.linear), model.input_shape, f"logistic regression weights ({bits}-bit)")
            save_figure(figure, out / "weights.png", crop=False)
            log_image(trainer, "pictures/weights", out / "weights.png", f"{bits}-bit weights")

    def draw_filters(self, trainer: Trainer, out: Path, name: str, layer: nn.Conv2d) -> None:
        weight = effective_weight(layer)
        norms, dropped = near_zero_filters(weight, self.near_zero)
        fraction = dropped.float().mean().item()
        summary = f"{name}: {int(dropped.sum())} of {len(weight)} filters near zero ({fraction:.0%}, norm < {self.near_zero:g} x max)"
        save_figure(filter_grid(weight, dropped, summary), out / "filters.png", crop=False)
        write_json(
            out / "filters.json",
            {
                "layer": name,
                "num_filters": len(weight),
                "near_zero_threshold": self.near_zero,
                "near_zero_filters": int(dropped.sum()),
                "near_zero_fraction": fraction,
                "filter_norms": norms.tolist(),
            },
        )
        log_image(trainer, "pictures/filters", out / "filters.png", summary)
