"""`AutoAttackEvaluation`: the field's standard evaluation (Croce & Hein 2020) at every budget of a grid."""

from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from advconf.attacks.cascade import AutoAttack, Cascade
from advconf.budgets import Budget
from advconf.callbacks.attack_evaluation import describe, fmt, is_random, validate_eps
from advconf.callbacks.evaluation import Evaluation, Report
from advconf.callbacks.records import budget_rows, sum_over_processes
from advconf.errors import AdvconfError
from advconf.functional import confidence, margin, num_classes, predictions
from advconf.plots import curves_figure


class AutoAttackEvaluation(Evaluation):
    """Robust accuracy under an attack cascade (default AutoAttack's standard one: APGD-CE → APGD-T →
    FAB-T → Square) at every budget in ``eps``, with the confidence metrics of ``AttackEvaluation``.

    Within a budget each stage attacks only the examples every earlier stage left correct; an
    example is robust only if it survived them all (worst case per example, as in the reference
    ``run_standard_evaluation``). Across budgets, with ``skip_decided`` an example broken at a
    smaller budget stays broken (its adversarial input lies in every larger ball) and is not attacked
    again; a model with randomness (a second forward pass differs) is attacked at every budget.

    Per budget the results give the robust accuracy after each stage and the final one, the seconds
    each stage took (all processes together), and AutoAttack's gradient-masking flag: Square — which
    uses no gradients — breaking examples that every gradient stage left standing. Stages that cannot
    run on the model (DLR losses on binary or 3-class models, FAB-T and Square without a box) are
    skipped with one line each; the rest runs.

    Args:
        attack: the cascade (``advconf.attacks.cascade.AutoAttack`` or any ``Cascade``).
        eps: budgets in input units (``8/255`` is fine).
        name: name of the result files and of the W&B keys.
        skip_decided: do not attack again at a larger budget what a smaller one broke.
        overwrite: see ``Evaluation``.
    """

    def __init__(
        self,
        attack: Cascade | None = None,
        eps: list[Budget] | Budget = 8 / 255,
        name: str = "autoattack",
        skip_decided: bool = True,
        overwrite: bool = False,
    ) -> None:
        super().__init__(name, overwrite)
        self.attack = attack if attack is not None else AutoAttack()
        if not isinstance(self.attack, Cascade):
            raise AdvconfError(f"{name}: AutoAttackEvaluation runs a cascade (advconf.attacks.cascade.AutoAttack), got {type(self.attack).__name__}")
        self.eps = validate_eps(eps)
        self.skip_decided = skip_decided
        self.stages = list(self.attack.attacks)
        self.randomness: bool | None = None

    def reset(self) -> None:
        self.randomness = None
        self.skipped: dict[str, str] = {}
        # Per budget: seconds per stage, Square's breaks after the gradient stages, whether that was measured.
        self.totals = torch.zeros(len(self.eps), len(self.stages) + 2, dtype=torch.float64)

    def evaluate_batch(self, pl_module: LightningModule, x: Tensor, y: Tensor, index: Tensor) -> dict[str, Tensor | None]:
        with torch.no_grad():
            logits = pl_module(x)
        if self.randomness is None:
            self.randomness = is_random(pl_module, x, logits)
            self.skipped = {name: reason for name, reason in self.attack.applicability(num_classes(logits), self.box, x).items() if reason}
        clean_correct = predictions(logits) == y
        robust, adv_conf = clean_correct, confidence(logits)
        correct, conf, stage_robust = [clean_correct], [adv_conf], []
        for i, eps in enumerate(self.eps):
            todo = robust if self.skip_decided and not self.randomness else clean_correct
            flags = torch.zeros(len(x), len(self.stages), dtype=torch.bool, device=x.device)
            if eps == 0 or not todo.any():
                robust = todo.clone()
                flags[:] = robust[:, None]
            else:
                idx = todo.nonzero()[:, 0]
                result = self.attack.run(pl_module, x[idx], y[idx], eps, self.box)
                robust = torch.zeros_like(todo)
                robust[idx] = result.robust
                for s, stage in enumerate(result.stages):
                    flags[idx, s] = stage.robust
                    self.totals[i, s] += stage.seconds
                breaks = result.masking_breaks()
                if breaks is not None:
                    self.totals[i, -2] += breaks
                    self.totals[i, -1] = 1
                with torch.no_grad():
                    adv_conf = adv_conf.clone()
                    adv_conf[idx] = confidence(pl_module(result.x_adv))
            correct.append(robust)
            conf.append(adv_conf)
            stage_robust.append(flags)
        return {
            "correct": torch.stack(correct, dim=1),
            "confidence": torch.stack(conf, dim=1),
            "margin": margin(logits),
            "stages": torch.cat(stage_robust, dim=1),  # budget-major: (budget, stage)
        }

    def gather_more(self, pl_module: LightningModule) -> Any:
        return sum_over_processes(pl_module, self.totals.flatten()).view_as(self.totals)

    def report(self, trainer: Trainer, pl_module: LightningModule, columns: dict[str, Tensor], more: Any) -> Report:
        clean, rows = budget_rows(columns, len(self.eps))
        stage_accuracy = columns["stages"].view(len(columns["stages"]), len(self.eps), len(self.stages)).float().mean(dim=0)
        results = []
        for i, (eps, row) in enumerate(zip(self.eps, rows)):
            measured = bool(more[i, -1] > 0)
            results.append({
                "eps": eps,
                **row,
                "robust_accuracy_after": {stage: stage_accuracy[i, s].item() for s, stage in enumerate(self.stages)},
                "seconds": {stage: more[i, s].item() for s, stage in enumerate(self.stages)},
                "square_breaks_after_gradient_stages": int(more[i, -2]) if measured else None,
            })
        masking_fired = [r["eps"] for r in results if r["square_breaks_after_gradient_stages"]]
        masking = {
            "fired": bool(masking_fired),
            "message": (
                f"Square (no gradients) broke examples every gradient stage left standing at eps {masking_fired}: "
                "gradients may be masked, and the gradient stages alone would overstate robustness"
                if masking_fired else "Square broke no example the gradient stages left standing"
            ),
        }
        n = clean["num_examples"]
        payload = {
            "attack": describe(self.attack),
            "stages": self.stages,
            "skipped_stages": sorted(self.skipped.values()),
            "eps": self.eps,
            "num_examples": n,
            "clean": clean,
            "results": results,
            "gradient_masking": masking,
            "gradient_quantization_during_attack": False,
            "skip_decided": self.skip_decided,
            "skipped_decided": bool(self.skip_decided and not self.randomness),
            "randomness": bool(self.randomness),
        }
        csv_rows = [flat_row(self.name, r) for r in results]
        curves = {"accuracy": [r["accuracy"] for r in results], "confidence": [r["confidence"] for r in results]}
        curves |= {f"after {stage}": [r["robust_accuracy_after"][stage] for r in results] for stage in self.stages[:-1]}
        figure = curves_figure(self.eps, curves, xlabel="eps", ylabel="fraction", title=f"{self.name} ({n} examples)")
        lines = [f"{self.name}: {n} examples, clean accuracy {clean['accuracy']:.4f}"]
        lines += list(payload["skipped_stages"])
        if payload["randomness"]:
            lines.append(f"{self.name}: the model is random: every budget attacks every example (consider EOT attacks)")
        lines.append(f"{'eps':>10} " + " ".join(f"{stage:>9}" for stage in self.stages) + f" {'robust':>9} {'seconds':>8} {'vuln(conf)':>11}")
        for r in results:
            lines.append(
                f"{r['eps']:>10.4g} " + " ".join(f"{r['robust_accuracy_after'][s]:>9.4f}" for s in self.stages)
                + f" {r['accuracy']:>9.4f} {sum(r['seconds'].values()):>8.1f} {fmt(r['vulnerability_auroc_confidence']):>11}"
            )
        warnings = [f"possible gradient masking: {masking['message']}"] if masking["fired"] else []
        return Report(payload=payload, rows=csv_rows, figure=figure, x="eps", ys=["accuracy", "confidence"], lines=lines,
                      warnings=warnings)


def flat_row(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """A results row with the per-stage dictionaries spread into columns, for CSV and W&B."""
    flat = {"attack": name, **{k: v for k, v in row.items() if not isinstance(v, dict)}}
    flat |= {f"robust_after_{stage}": value for stage, value in row["robust_accuracy_after"].items()}
    flat |= {f"seconds_{stage}": value for stage, value in row["seconds"].items()}
    return flat
