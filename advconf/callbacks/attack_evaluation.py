"""`AttackEvaluation`: run an attack over the whole test set for a grid of budgets."""

from collections.abc import Callable
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from advconf.attacks import GradientAttack
from advconf.budgets import Budget, parse_budget
from advconf.callbacks.evaluation import Evaluation, Report
from advconf.callbacks.records import budget_rows, sum_over_processes
from advconf.errors import AdvconfError
from advconf.functional import confidence, margin, predictions, top5_correct
from advconf.masking import MaskingProbe, fired
from advconf.plots import curves_figure


def validate_eps(eps: list[Budget] | Budget, allow_negative: bool = False) -> list[float]:
    """Budgets as a sorted list of distinct floats; fractions (``8/255``) are accepted."""
    if not isinstance(eps, (int, float, str, list, tuple)):
        raise AdvconfError(f"eps must be a number or a list of numbers, got {eps!r}")
    values = [parse_budget(v, "eps") for v in (eps if isinstance(eps, (list, tuple)) else [eps])]
    if not values:
        raise AdvconfError("eps must list at least one budget")
    negative = [v for v in values if v < 0]
    if negative and not allow_negative:
        raise AdvconfError(f"eps must be non-negative, got {negative[0]}")
    return sorted(set(values))


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
    return {"class_path": f"{type(obj).__module__}.{type(obj).__qualname__}", "params": params}


def is_random(pl_module: LightningModule, x: Tensor, logits: Tensor) -> bool:
    """Whether the model's output has randomness: a second forward pass of the same inputs differs."""
    with torch.no_grad():
        return not torch.equal(pl_module(x), logits)


class AttackEvaluation(Evaluation):
    """Accuracy and confidence of the model on clean and attacked test inputs, for each budget in ``eps``.

    Budgets are evaluated in increasing order. With ``skip_decided`` (default), an example is only
    attacked while the attack can still change a reported number: while it is classified correctly
    (and, for models with more than five classes, while its label is still among the top five). An
    adversarial input found at a smaller budget lies inside every larger ball, so the example stays
    broken at every larger budget; its attacked input is then the one that broke it. For a
    deterministic model and attack this gives exactly the full computation's numbers at examples not
    yet broken and can only lower the others, so robust accuracy is never higher than attacking every
    example at every budget. For a model with randomness (a second forward pass of the same batch
    differs) or an attack with ``gradient_samples`` > 1 (EOT), "decided" cannot be judged from one
    forward pass, so every example is attacked at every budget; the results file says so
    (``skipped_decided``).

    Per budget it reports accuracy, mean max-softmax, ECE, the AUROC of max-softmax for telling
    natural inputs from successful adversarial examples, and the vulnerability-prediction AUROCs
    (``advconf.callbacks.records.budget_rows``). For gradient attacks it also runs the
    gradient-masking checks on the first ``masking_examples`` test examples (``MaskingProbe``) and
    warns about every check that fires.

    Args:
        attack: the attack object (``class_path`` of e.g. ``advconf.attacks.PGD``); untargeted.
        eps: budgets in input units (pixel units for images: ``8/255`` is fine).
        name: name of the result files and of the W&B keys.
        skip_decided: do not re-attack examples already decided (see above).
        masking_checks: run the gradient-masking checks (gradient attacks only).
        masking_examples: how many of the test set's first examples the checks use.
        masking_steps: steps of the PGD reference when the evaluated attack is not iterative itself.
        overwrite: see ``Evaluation``.
    """

    def __init__(
        self,
        attack: Callable,
        eps: list[Budget] | Budget = 0.1,
        name: str = "attack",
        skip_decided: bool = True,
        masking_checks: bool = True,
        masking_examples: int = 200,
        masking_steps: int = 20,
        overwrite: bool = False,
    ) -> None:
        super().__init__(name, overwrite)
        if getattr(attack, "targeted", False):
            raise AdvconfError(
                f"{name}: AttackEvaluation measures untargeted robustness, but the attack is targeted "
                "(it would use the true labels as targets); set targeted: false"
            )
        self.attack = attack
        self.eps = validate_eps(eps)
        self.skip_decided = skip_decided
        for option, value in (("masking_examples", masking_examples), ("masking_steps", masking_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AdvconfError(f"{option} must be a positive integer, got {value!r}")
        # Gradient-free attacks cannot mask gradients: nothing to check.
        self.masking_checks = masking_checks and isinstance(attack, GradientAttack)
        self.masking_examples = masking_examples
        self.masking_steps = masking_steps
        self.probe = MaskingProbe(attack, self.eps, masking_examples, masking_steps) if self.masking_checks else None
        self.randomness: bool | None = None

    def reset(self) -> None:
        self.randomness = getattr(self.attack, "gradient_samples", 1) > 1 or None
        if self.probe:
            self.probe.reset()

    def evaluate_batch(self, pl_module: LightningModule, x: Tensor, y: Tensor, index: Tensor) -> dict[str, Tensor | None]:
        with torch.no_grad():
            logits = pl_module(x)
        if self.randomness is None:
            self.randomness = is_random(pl_module, x, logits)
        skip = self.skip_decided and not self.randomness
        correct, conf, top5 = [predictions(logits) == y], [confidence(logits)], [top5_correct(logits, y)]
        broken, broken5, adv_conf = ~correct[0], None if top5[0] is None else ~top5[0], conf[0]
        for eps in self.eps:
            if not skip:  # the full computation: every example from its clean input
                adv_logits = logits if eps == 0 else self._attacked_logits(pl_module, x, y, eps)
                broken, adv_conf = predictions(adv_logits) != y, confidence(adv_logits)
                broken5 = None if broken5 is None else ~top5_correct(adv_logits, y)
            else:
                todo = ~broken if broken5 is None else ~broken | ~broken5
                if eps > 0 and todo.any():
                    idx = todo.nonzero()[:, 0]
                    new_logits = self._attacked_logits(pl_module, x[idx], y[idx], eps)
                    # An example broken at a smaller budget (attacked again only for top-5) keeps
                    # the input that broke it; the others report their newest attacked input.
                    latest = ~broken[idx]
                    adv_conf = adv_conf.clone()
                    adv_conf[idx[latest]] = confidence(new_logits)[latest]
                    broken = broken.clone()
                    broken[idx] |= predictions(new_logits) != y[idx]
                    if broken5 is not None:
                        broken5 = broken5.clone()
                        broken5[idx] |= ~top5_correct(new_logits, y[idx])
            correct.append(~broken)
            conf.append(adv_conf)
            top5.append(None if broken5 is None else ~broken5)
        if self.probe:
            first = (index >= 0) & (index < self.masking_examples)  # the test set's first examples, however it is split
            if first.any():
                self.probe.update(pl_module, x[first], y[first], self.box)
        return {
            "correct": torch.stack(correct, dim=1),
            "confidence": torch.stack(conf, dim=1),
            "top5": None if top5[0] is None else torch.stack(top5, dim=1),
            "margin": margin(logits),
        }

    def _attacked_logits(self, pl_module: LightningModule, x: Tensor, y: Tensor, eps: float) -> Tensor:
        x_adv = self.attack(pl_module, x, y, eps=eps, box=self.box).detach()
        with torch.no_grad():
            return pl_module(x_adv)

    def gather_more(self, pl_module: LightningModule) -> Any:
        return sum_over_processes(pl_module, self.probe.totals()) if self.probe else None

    def report(self, trainer: Trainer, pl_module: LightningModule, columns: dict[str, Tensor], more: Any) -> Report:
        clean, rows = budget_rows(columns, len(self.eps))
        rows = [{"eps": eps, **row} for eps, row in zip(self.eps, rows)]
        masking, checked = self.probe.flags(more) if self.probe else ({}, 0)
        n = clean["num_examples"]
        payload = {
            "attack": describe(self.attack),
            "eps": self.eps,
            "num_examples": n,
            "clean": clean,
            "results": rows,
            "masking": masking,
            "masking_examples": checked,
            "gradient_quantization_during_attack": False,
            "skip_decided": self.skip_decided,
            "skipped_decided": bool(self.skip_decided and not self.randomness),
            "randomness": bool(self.randomness),
        }
        figure = curves_figure(
            self.eps,
            {"accuracy": [r["accuracy"] for r in rows], "confidence": [r["confidence"] for r in rows]},
            xlabel="eps",
            ylabel="fraction",
            title=f"{self.name} ({n} examples)",
        )
        csv_rows = [{"attack": self.name, **row} for row in rows]
        return Report(
            payload=payload,
            rows=csv_rows,
            figure=figure,
            x="eps",
            ys=["accuracy", "confidence", "ece", "detection_auroc"],
            lines=table_lines(self.name, payload),
            warnings=[f"possible gradient masking: {message}" for message in fired(masking)],
            tables={"masking": [{"check": check, **flag} for check, flag in masking.items()]} if masking else {},
        )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def table_lines(name: str, payload: dict[str, Any]) -> list[str]:
    clean = payload["clean"]
    lines = [f"{name}: {payload['num_examples']} examples, clean accuracy {clean['accuracy']:.4f}, ECE {clean['ece']:.4f}"]
    if not payload["skipped_decided"] and payload["skip_decided"]:
        lines.append(f"{name}: the model or attack is random, so every example was attacked at every budget")
    lines.append(f"{'eps':>10} {'accuracy':>10} {'confidence':>11} {'ECE':>8} {'AUROC':>8} {'vuln(conf)':>11} {'vuln(margin)':>13}")
    for row in payload["results"]:
        lines.append(
            f"{row['eps']:>10.4g} {row['accuracy']:>10.4f} {row['confidence']:>11.4f} {row['ece']:>8.4f} "
            f"{fmt(row['detection_auroc']):>8} {fmt(row['vulnerability_auroc_confidence']):>11} "
            f"{fmt(row['vulnerability_auroc_margin']):>13}"
        )
    flagged = fired(payload["masking"])
    if flagged:
        lines.append(f"gradient-masking checks fired ({payload['masking_examples']} examples): " + "; ".join(flagged))
    return lines
