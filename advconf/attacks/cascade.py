"""Attack cascades: AutoAttack's evaluation (Croce & Hein 2020, Sec. 4; reference ``fra31/auto-attack``
``autoattack/autoattack.py``, ``run_standard_evaluation``) as plain PyTorch.

Each stage attacks only the examples that every earlier stage left correctly classified; an example
is robust only if it was correct on clean input and survived every stage that ran, judged by the
model's prediction on the stage's returned point. Skipping the examples already broken therefore
cannot raise robust accuracy: a broken example stays broken whatever later stages would have done,
and every example still standing is attacked by every stage. A stage that cannot run on the model
(too few classes for DLR, no box for FAB-T/Square) is skipped with a one-line reason; if no stage
can run the cascade refuses instead of reporting clean accuracy as robust.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from advconf.attacks._applicability import NotApplicable
from advconf.attacks._gradients import (
    Attack,
    Box,
    Norm,
    check_count,
    check_norm,
    check_seed,
)
from advconf.attacks.apgd import APGD, APGDT
from advconf.attacks.fab import FABT
from advconf.attacks.square import Square
from advconf.errors import AdvconfError
from advconf.functional import num_classes, predictions

StageName = Literal["apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square"]
STANDARD: list[StageName] = ["apgd-ce", "apgd-t", "fab-t", "square"]


@dataclass
class StageReport:
    """One stage of one cascade run.

    ``robust``: per example, correct on clean input and after this stage and every earlier one (a
    skipped stage carries the previous flags). ``attacked``: examples the stage ran on. ``broken``:
    examples it broke. ``skipped``: the one-line reason when it could not run.
    """

    name: str
    robust: Tensor
    attacked: int
    broken: int
    seconds: float
    skipped: str | None = None
    uses_gradients: bool = True


@dataclass
class CascadeResult:
    """Per-example outcome of a cascade on one batch (``merge`` joins batches).

    ``x_adv``: the breaking point for broken examples, the last stage's point for robust ones, the
    clean input for examples already wrong on it.
    """

    x_adv: Tensor
    clean_correct: Tensor
    stages: list[StageReport] = field(default_factory=list)

    @property
    def robust(self) -> Tensor:
        """Correct after every stage that ran (bool per example)."""
        return self.stages[-1].robust if self.stages else self.clean_correct

    def accuracy(self) -> dict[str, float]:
        """Clean accuracy, then robust accuracy after each stage in order (a skipped stage repeats the previous one)."""
        values = {"clean": self.clean_correct.float().mean().item()}
        values.update((stage.name, stage.robust.float().mean().item()) for stage in self.stages)
        return values

    def seconds(self) -> dict[str, float]:
        return {stage.name: stage.seconds for stage in self.stages}

    def skipped(self) -> list[str]:
        """One line per stage that could not run, naming it and why."""
        return [stage.skipped for stage in self.stages if stage.skipped]

    def masking_breaks(self) -> int | None:
        """Gradient-masking signal: examples that a query-based stage (Square) broke although every
        gradient stage that ran had left them standing. ``None`` when no query-based stage ran after
        a gradient stage. AutoAttack flags a model when this is not zero."""
        ran = [stage for stage in self.stages if stage.skipped is None]
        gradient_stages = [i for i, stage in enumerate(ran) if stage.uses_gradients]
        if not gradient_stages:
            return None
        late_query_stages = [stage for stage in ran[gradient_stages[-1] + 1 :] if not stage.uses_gradients]
        return sum(stage.broken for stage in late_query_stages) if late_query_stages else None

    @staticmethod
    def merge(results: list["CascadeResult"]) -> "CascadeResult":
        """Join the results of several batches of the same cascade: flags concatenated, counts and times added."""
        first = results[0]
        stages = [
            StageReport(
                name=stage.name,
                robust=torch.cat([r.stages[i].robust for r in results]),
                attacked=sum(r.stages[i].attacked for r in results),
                broken=sum(r.stages[i].broken for r in results),
                seconds=sum(r.stages[i].seconds for r in results),
                skipped=stage.skipped,
                uses_gradients=stage.uses_gradients,
            )
            for i, stage in enumerate(first.stages)
        ]
        return CascadeResult(
            x_adv=torch.cat([r.x_adv for r in results]),
            clean_correct=torch.cat([r.clean_correct for r in results]),
            stages=stages,
        )


def _elapsed(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


class Cascade(Attack):
    """Runs attacks in order, each on the examples all earlier ones left correct; worst case per example.

    Any attack with advconf's contract can be a stage; one with a ``check_applicable(classes, box, x)``
    method is skipped (one line) when that raises ``NotApplicable``, and one whose ``uses_gradients``
    is false counts towards the gradient-masking signal. Used as an attack, it returns ``x_adv``;
    ``run`` returns the full ``CascadeResult``.

    Each stage draws from its own seed, as in the reference (every attack seeded alike), unless the
    call passes a ``generator``: then all stages draw from it, in turn.

    Args:
        stages: name → attack, in the order they run.
    """

    def __init__(self, stages: dict[str, Callable]) -> None:
        if not stages:
            raise AdvconfError("a cascade needs at least one stage")
        self.attacks = dict(stages)

    def perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None
    ) -> Tensor:
        return self._run(model, x, y, eps, box, generator).x_adv

    def applicability(self, classes: int, box: Box, x: Tensor) -> dict[str, str | None]:
        """Per stage, ``None`` if it can run, else the one-line reason it is skipped."""
        reasons = {}
        for name, attack in self.attacks.items():
            try:
                check = getattr(attack, "check_applicable", None)
                if check is not None:
                    check(classes, box, x)
                reasons[name] = None
            except NotApplicable as err:
                reasons[name] = f"{name} skipped: {err}"
        return reasons

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        eps: float,
        box: Box = (0.0, 1.0),
        generator: torch.Generator | None = None,
    ) -> CascadeResult:
        """The cascade on ``x`` with every stage's outcome (``attack(...)`` returns only ``x_adv``)."""
        return self.prepared(self._run, model, x, y, eps, box, generator)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, eps: float, box: Box, generator: torch.Generator | None) -> CascadeResult:
        with torch.no_grad():
            logits = model(x)
        clean_correct, classes = predictions(logits) == y, num_classes(logits)
        reasons = self.applicability(classes, box, x)
        if all(reasons.values()):
            raise NotApplicable("no stage of the cascade can run: " + "; ".join(reasons.values()))
        result = CascadeResult(x_adv=x.clone(), clean_correct=clean_correct)
        robust = clean_correct.clone()
        for name, attack in self.attacks.items():
            uses_gradients = bool(getattr(attack, "uses_gradients", True))
            if reasons[name]:
                result.stages.append(StageReport(name, robust.clone(), 0, 0, 0.0, reasons[name], uses_gradients))
                continue
            index = robust.nonzero().flatten()
            start, broken = time.perf_counter(), 0
            if index.numel():
                candidates = attack(model, x[index], y[index], eps, box, generator)
                with torch.no_grad():
                    fooled = predictions(model(candidates)) != y[index]
                result.x_adv[index] = candidates.to(x.dtype)
                robust[index[fooled]] = False
                broken = int(fooled.sum())
            seconds = _elapsed(start, x.device)
            report = StageReport(name, robust.clone(), int(index.numel()), broken, seconds, None, uses_gradients)
            result.stages.append(report)
        return result


class AutoAttack(Cascade):
    """AutoAttack's ``standard`` evaluation: APGD-CE → APGD-T → FAB-T → Square, with the paper's settings.

    Binary and 3-class models skip APGD-T (and APGD-DLR with 2 classes), unbounded inputs skip FAB-T
    and Square; each skip is one line in ``CascadeResult.skipped()``.

    Args:
        norm: ``linf`` or ``l2`` (the ``autoattack`` and ``autoattack-l2`` presets).
        stages: which stages, in order (default the standard four; ``apgd-dlr`` is the untargeted DLR loss).
        steps: APGD and FAB iterations per run (100).
        targets: target classes of APGD-T and FAB-T (9).
        queries: Square's query budget (5,000).
        seed: seed of every stage's random draws (a ``generator`` passed to the call replaces them).
    """

    def __init__(
        self,
        norm: Norm = "linf",
        stages: list[StageName] = STANDARD,
        steps: int = 100,
        targets: int = 9,
        queries: int = 5000,
        seed: int | None = 0,
    ) -> None:
        self.norm = check_norm(norm)
        self.steps = check_count("steps", steps)
        self.targets = check_count("targets", targets)
        self.queries = check_count("queries", queries)
        builders = {
            "apgd-ce": lambda: APGD(loss="ce", norm=norm, steps=steps, seed=seed),
            "apgd-dlr": lambda: APGD(loss="dlr", norm=norm, steps=steps, seed=seed),
            "apgd-t": lambda: APGDT(norm=norm, steps=steps, targets=targets, seed=seed),
            "fab-t": lambda: FABT(norm=norm, steps=steps, targets=targets),
            "square": lambda: Square(norm=norm, queries=queries, seed=seed),
        }
        unknown = [name for name in stages if name not in builders]
        if unknown or len(set(stages)) != len(stages):
            raise AdvconfError(f"AutoAttack stages must be distinct names from {sorted(builders)}, got {list(stages)}")
        super().__init__({name: builders[name]() for name in stages})
        self.stages, self.seed = list(stages), check_seed(seed)
