"""An optimizer's ``zero_grad`` and ``step`` without torch's per-call bookkeeping while nothing observes it.

``torch.optim.Optimizer`` wraps every ``step`` in a profiler range (``record_function``), a walk over
the global and per-optimizer step hooks and a profiler entry point, and ``zero_grad`` in another
range. With no profiler running and no hook registered they do nothing, but for a model whose step
takes half a millisecond they cost about a sixth of it (benchmarks row 6a). ``OptimizerStep`` calls
the optimizer's own update (the function torch's wrapper calls) and sets the gradients to ``None``
(what ``zero_grad()`` does by default) directly in that case, and the wrapped methods otherwise, so
profilers and hooks see every step as usual.
"""

from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim import optimizer as torch_optimizer


def _profiling() -> bool:
    return torch.autograd._profiler_enabled()


def _has_step_hooks(optimizer: Optimizer) -> bool:
    # torch keeps the global hooks in module-level dicts (register_optimizer_step_pre/post_hook).
    return bool(
        optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
        or torch_optimizer._global_optimizer_pre_hooks or torch_optimizer._global_optimizer_post_hooks
    )


class OptimizerStep:
    """``zero_grad()`` and ``step()`` of ``optimizer``, the same updates at less cost per call."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        step = type(optimizer).step
        # torch's wrapper (Optimizer.profile_hook_step) marks itself `hooked` and keeps the update in
        # __wrapped__; an optimizer class that is not wrapped so is always called as it is.
        self._update = step.__wrapped__ if getattr(step, "hooked", False) and hasattr(step, "__wrapped__") else None
        self._plain_zero_grad = type(optimizer).zero_grad is Optimizer.zero_grad

    def zero_grad(self) -> None:
        if not self._plain_zero_grad or _profiling():
            self.optimizer.zero_grad()
            return
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> Any:
        if self._update is None or _profiling() or _has_step_hooks(self.optimizer):
            return self.optimizer.step()
        return self._update(self.optimizer)
