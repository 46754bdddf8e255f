"""Lightning's progress bar, redrawn at most a few times a second."""

import time
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class ThrottledTqdm(Tqdm):
    """A tqdm bar whose ``refresh()`` draws only when ``min_interval`` seconds have passed since its
    last draw. ``close()`` still draws the final state."""

    min_interval: float = 0.5
    last_draw: float = float("-inf")

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        if now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        super().refresh(*args, **kwargs)


class ThrottledProgressBar(TQDMProgressBar):
    """`TQDMProgressBar` that redraws the training bar at most once per `min_interval` seconds.

    Lightning redraws after every batch, and three more times per epoch (new epoch, its description,
    the epoch's metrics). A redraw (with W&B capturing the console) costs about a millisecond: more
    than a small model's step, and for Table 1's epochs of 86 steps about a sixth of the run's time
    outside the steps (docs/benchmarks.md, section 6). Here a batch asks for a redraw on its `refresh_rate`
    only when the interval has passed (and always on a bar's last batch, so the bar's count is right
    when it closes), and the training bar's own redraws are throttled too. The CLI installs this bar
    when the config enables the progress bar without choosing one.
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False, min_interval: float = 0.5) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.min_interval = min_interval
        self._last_draw = float("-inf")

    def init_train_tqdm(self) -> Tqdm:
        bar = super().init_train_tqdm()
        # Lightning builds the bar (its arguments are Lightning's to choose); only its redraws change.
        bar.__class__ = ThrottledTqdm
        bar.min_interval = self.min_interval
        return bar

    def _should_update(self, current: int, total: int) -> bool:
        if not super()._should_update(current, total):
            return False
        now = time.monotonic()
        if current == total or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            return True
        return False
