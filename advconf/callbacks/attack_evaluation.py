"""Test-time robustness evaluation: run an attack over the whole test set for a grid of budgets."""

import math
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from advconf.errors import AdvconfError
from advconf.functional import confidence, predictions
from advconf.results import log_image, log_table_and_curve, plot_curves, results_dir, save_figure, write_csv, write_json


def describe(obj: Any) -> dict[str, Any]:
    """Class path and plain-valued attributes of an attack, for the results file."""
    params = {}
    for key, value in vars(obj).items():
        if key.startswith("_"):
            continue
        if isinstance(value, (bool, int, float, str, type(None))):
            params[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
            params[key] = list(value)
        elif hasattr(value, "__dict__") and not isinstance(value, torch.nn.Module):
            params[key] = describe(value)  # a wrapped attack (EOT)
    return {"class_path": f"{type(obj).__module__}.{type(obj).__qualname__}", "params": params}


def attack_context(model: torch.nn.Module) -> Any:
    """Attacks use full-precision gradients (paper Table 3): switch DoReFa gradient quantisation off."""
    try:
        from advconf.quant import attack_gradients
    except ImportError:  # quantisation package not installed in a trimmed build
        return nullcontext()
    return attack_gradients(model)


def validate_eps(eps: list[float] | float, allow_negative: bool = False) -> list[float]:
    values = [eps] if isinstance(eps, (int, float)) else list(eps)
    if not values:
        raise AdvconfError("eps must list at least one budget")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AdvconfError(f"eps must be finite numbers, got {value!r}")
        if value < 0 and not allow_negative:
            raise AdvconfError(f"eps must be non-negative, got {value}")
    return sorted(set(float(v) for v in values))


class AttackEvaluation(Callback):
    """Accuracy and confidence of the model on clean and attacked test inputs, for each budget in ``eps``.

    Budgets are evaluated in increasing order. With ``skip_decided`` (default), an example is only
    attacked while it is still classified correctly: one misclassified clean, or fooled at a smaller
    budget, stays misclassified at every larger budget because the adversarial input already found
    lies inside the larger ball (exact for norm-ball attacks). Its "attacked" input is then the
    strongest one found so far. Set ``skip_decided: false`` to attack every example at every budget.

    Writes ``<run dir>/results/<name>.json``, ``.csv`` and ``.png`` and logs a W&B table and curves.

    Args:
        attack: the attack object (``class_path`` of e.g. ``advconf.attacks.PGD``).
        eps: budgets in input units (pixel units for images: 8/255 ≈ 0.0314).
        name: name of the result files and of the W&B keys.
        skip_decided: do not re-attack examples already misclassified (see above).
    """

    def __init__(
        self,
        attack: Callable,
        eps: list[float] | float = 0.1,
        name: str = "attack",
        skip_decided: bool = True,
    ) -> None:
        self.attack = attack
        self.eps = validate_eps(eps)
        if not name or "/" in name:
            raise AdvconfError(f"attack evaluation name must be a non-empty file name, got {name!r}")
        self.name = name
        self.skip_decided = skip_decided
        self._records: dict[str, list[torch.Tensor]] = {}

    # --- per batch --------------------------------------------------------------------------------

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._records = {"clean_correct": [], "clean_confidence": []}
        for i in range(len(self.eps)):
            self._records[f"correct_{i}"] = []
            self._records[f"confidence_{i}"] = []

    def _record(self, key: str, value: torch.Tensor) -> None:
        self._records[key].append(value.detach().float().cpu())

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        box = getattr(trainer.datamodule, "input_box", (0.0, 1.0)) if trainer.datamodule else (0.0, 1.0)
        # Lightning's test loop runs under inference_mode; attacks need input gradients.
        with torch.inference_mode(False), torch.enable_grad(), attack_context(pl_module):
            x, y = batch[0].clone(), batch[1].clone()
            with torch.no_grad():
                logits = pl_module(x)
            correct = predictions(logits) == y
            self._record("clean_correct", correct)
            self._record("clean_confidence", confidence(logits))
            x_adv = x.clone()
            still_correct = correct.clone()
            for i, eps in enumerate(self.eps):
                todo = still_correct if self.skip_decided else torch.ones_like(correct)
                if eps > 0 and todo.any():
                    x_adv[todo] = self.attack(pl_module, x[todo], y[todo], eps=eps, box=box).detach()
                with torch.no_grad():
                    logits = pl_module(x_adv)
                still_correct = predictions(logits) == y
                self._record(f"correct_{i}", still_correct)
                self._record(f"confidence_{i}", confidence(logits))

    # --- at the end -------------------------------------------------------------------------------

    def _gathered(self, pl_module: LightningModule, key: str) -> torch.Tensor:
        local = torch.cat(self._records[key]) if self._records[key] else torch.zeros(0)
        if pl_module.trainer.world_size == 1:
            return local
        return pl_module.all_gather(local.to(pl_module.device)).flatten().cpu()

    def summary(self, pl_module: LightningModule) -> dict[str, Any]:
        clean_correct = self._gathered(pl_module, "clean_correct")
        n = len(clean_correct)
        rows = []
        for i, eps in enumerate(self.eps):
            correct = self._gathered(pl_module, f"correct_{i}")
            conf = self._gathered(pl_module, f"confidence_{i}")
            rows.append(
                {
                    "eps": eps,
                    "accuracy": correct.mean().item() if n else float("nan"),
                    "confidence": conf.mean().item() if n else float("nan"),
                    "num_examples": n,
                }
            )
        clean_conf = self._gathered(pl_module, "clean_confidence")
        clean = {
            "accuracy": clean_correct.mean().item() if n else float("nan"),
            "confidence": clean_conf.mean().item() if n else float("nan"),
        }
        return {"clean": clean, "rows": rows, "num_examples": n}

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        summary = self.summary(pl_module)
        if not trainer.is_global_zero:
            return
        rows = [{"attack": self.name, **row} for row in summary["rows"]]
        payload = {
            "name": self.name,
            "attack": describe(self.attack),
            "eps": self.eps,
            "num_examples": summary["num_examples"],
            "clean": summary["clean"],
            "results": summary["rows"],
            "checkpoint": trainer.ckpt_path,
            "model_settings": pl_module.settings if hasattr(pl_module, "settings") else {},
            "gradient_quantization_during_attack": False,
            "skip_decided": self.skip_decided,
            "box": getattr(trainer.datamodule, "input_box", None) if trainer.datamodule else None,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        out = results_dir(trainer)
        write_json(out / f"{self.name}.json", payload)
        write_csv(out / f"{self.name}.csv", rows)
        fig = plot_curves(
            self.eps,
            {"accuracy": [r["accuracy"] for r in rows], "confidence": [r["confidence"] for r in rows]},
            xlabel="eps",
            ylabel="fraction",
            title=f"{self.name} ({summary['num_examples']} examples)",
        )
        save_figure(fig, out / f"{self.name}.png")
        log_table_and_curve(trainer, self.name, rows, x="eps", ys=["accuracy", "confidence"])
        log_image(trainer, f"{self.name}/curve", out / f"{self.name}.png")
        print_table(self.name, summary)


def print_table(name: str, summary: dict[str, Any]) -> None:
    clean = summary["clean"]
    print(f"\n{name}: {summary['num_examples']} examples, clean accuracy {clean['accuracy']:.4f}")
    print(f"{'eps':>10} {'accuracy':>10} {'confidence':>11}")
    for row in summary["rows"]:
        print(f"{row['eps']:>10.4g} {row['accuracy']:>10.4f} {row['confidence']:>11.4f}")
