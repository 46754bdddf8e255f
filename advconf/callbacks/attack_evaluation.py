"""Test-time robustness evaluation: run an attack over the whole test set for a grid of budgets."""

import math
from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from advconf.callbacks.masking_checks import MaskingProbe, is_gradient_attack
from advconf.callbacks.records import ConfidenceRecords
from advconf.errors import AdvconfError
from advconf.functional import confidence, predictions, top5_correct
from advconf.masking import fired
from advconf.quant import attack_gradients
from advconf.results import log_table_and_curve, plot_curves, publish, run_info


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


def validate_eps(eps: list[float] | float, allow_negative: bool = False) -> list[float]:
    if not isinstance(eps, (int, float, list, tuple)):
        raise AdvconfError(f"eps must be a number or a list of numbers, got {eps!r}")
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

    Per budget it reports accuracy, mean max-softmax, ECE, and the AUROC of max-softmax for telling
    natural inputs from successful adversarial examples (see ``ConfidenceRecords.summary``). For
    gradient attacks it also runs the gradient-masking checks on the first ``masking_examples``
    test examples (``MaskingProbe``) and warns about every check that fires.

    Writes ``<run dir>/results/<name>.json``, ``.csv`` and ``.png`` and logs a W&B table and curves.

    Args:
        attack: the attack object (``class_path`` of e.g. ``advconf.attacks.PGD``).
        eps: budgets in input units (pixel units for images: 8/255 ≈ 0.0314).
        name: name of the result files and of the W&B keys.
        skip_decided: do not re-attack examples already misclassified (see above).
        masking_checks: run the gradient-masking checks (gradient attacks only).
        masking_examples: how many of the first test examples (per rank) the checks use.
        masking_steps: steps of the PGD reference when the evaluated attack is not PGD itself.
    """

    def __init__(
        self,
        attack: Callable,
        eps: list[float] | float = 0.1,
        name: str = "attack",
        skip_decided: bool = True,
        masking_checks: bool = True,
        masking_examples: int = 200,
        masking_steps: int = 20,
    ) -> None:
        self.attack = attack
        self.eps = validate_eps(eps)
        if not name or "/" in name:
            raise AdvconfError(f"attack evaluation name must be a non-empty file name, got {name!r}")
        self.name = name
        self.skip_decided = skip_decided
        for option, value in (("masking_examples", masking_examples), ("masking_steps", masking_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AdvconfError(f"{option} must be a positive integer, got {value!r}")
        # Gradient-free attacks cannot mask gradients: nothing to check.
        self.masking_checks = masking_checks and is_gradient_attack(attack)
        self.masking_examples = masking_examples
        self.masking_steps = masking_steps
        self.records = ConfidenceRecords(len(self.eps))
        self.probe = MaskingProbe(attack, self.eps, masking_examples, masking_steps) if self.masking_checks else None

    # --- per batch --------------------------------------------------------------------------------

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.records.reset()
        if self.probe:
            self.probe.reset()

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        box = input_box(trainer)
        # Lightning's test loop runs under inference_mode; attacks need input gradients.
        with torch.inference_mode(False), torch.enable_grad(), attack_gradients(pl_module):
            x, y = batch[0].clone(), batch[1].clone()
            with torch.no_grad():
                logits = pl_module(x)
            correct = predictions(logits) == y
            self.records.add(None, correct, confidence(logits), top5_correct(logits, y))
            x_adv = x.clone()
            still_correct = correct.clone()
            for i, eps in enumerate(self.eps):
                todo = still_correct if self.skip_decided else torch.ones_like(correct)
                if eps > 0 and todo.any():
                    x_adv[todo] = self.attack(pl_module, x[todo], y[todo], eps=eps, box=box).detach()
                with torch.no_grad():
                    logits = pl_module(x_adv)
                still_correct = predictions(logits) == y
                self.records.add(i, still_correct, confidence(logits), top5_correct(logits, y))
            if self.probe:
                self.probe.update(pl_module, x, y, box)

    # --- at the end -------------------------------------------------------------------------------

    def summary(self, pl_module: LightningModule) -> dict[str, Any]:
        clean, rows, n = self.records.summary(pl_module)
        masking, checked = self.probe.flags(pl_module) if self.probe else ({}, 0)
        return {
            "clean": clean,
            "rows": [{"eps": eps, **row} for eps, row in zip(self.eps, rows)],
            "num_examples": n,
            "masking": masking,
            "masking_examples": checked,
        }

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        summary = self.summary(pl_module)  # every rank takes part in the gather
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
            "masking": summary["masking"],
            "masking_examples": summary["masking_examples"],
            "gradient_quantization_during_attack": False,
            "skip_decided": self.skip_decided,
            **run_info(trainer, pl_module),
        }
        figure = plot_curves(
            self.eps,
            {"accuracy": [r["accuracy"] for r in rows], "confidence": [r["confidence"] for r in rows]},
            xlabel="eps",
            ylabel="fraction",
            title=f"{self.name} ({summary['num_examples']} examples)",
        )
        publish(trainer, self.name, payload, rows, figure, x="eps", ys=["accuracy", "confidence", "ece", "detection_auroc"])
        report_masking(trainer, self.name, summary["masking"])
        print_table(self.name, summary)


def input_box(trainer: Trainer) -> tuple[float, float] | None:
    return getattr(trainer.datamodule, "input_box", (0.0, 1.0)) if trainer.datamodule else (0.0, 1.0)


def report_masking(trainer: Trainer, name: str, flags: dict[str, dict]) -> None:
    """A console warning per fired check, and the checks as a W&B table (``<name>/masking/table``)."""
    for message in fired(flags):
        rank_zero_warn(f"{name}: possible gradient masking: {message}")
    rows = [{"check": check, **flag} for check, flag in flags.items()]
    log_table_and_curve(trainer, f"{name}/masking", rows, x="check", ys=[])


def print_table(name: str, summary: dict[str, Any]) -> None:
    clean = summary["clean"]
    print(f"\n{name}: {summary['num_examples']} examples, clean accuracy {clean['accuracy']:.4f}, ECE {clean['ece']:.4f}")
    print(f"{'eps':>10} {'accuracy':>10} {'confidence':>11} {'ECE':>8} {'AUROC':>8}")
    for row in summary["rows"]:
        auroc = "-" if row["detection_auroc"] is None else f"{row['detection_auroc']:.4f}"
        print(f"{row['eps']:>10.4g} {row['accuracy']:>10.4f} {row['confidence']:>11.4f} {row['ece']:>8.4f} {auroc:>8}")
    flagged = fired(summary["masking"])
    if flagged:
        print(f"gradient-masking checks fired ({summary['masking_examples']} examples): " + "; ".join(flagged))
