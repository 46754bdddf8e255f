"""Lightning's progress bar, redrawn at most a few times a second."""

import time

from lightning.pytorch.callbacks import TQDMProgressBar


class ThrottledProgressBar(TQDMProgressBar):
    """`TQDMProgressBar` that redraws on its `refresh_rate` batches only when at least `min_interval`
    seconds have passed since its last redraw (and always on a bar's last batch).

    Lightning redraws after every batch; a redraw (with W&B capturing the console) costs about a
    millisecond, more than a step of a small model (docs/benchmarks.md, section 6). The CLI installs
    this bar when the config enables the progress bar without choosing one.
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False, min_interval: float = 0.5) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.min_interval = min_interval
        self._last_draw = float("-inf")

    def _should_update(self, current: int, total: int) -> bool:
        if not super()._should_update(current, total):
            return False
        now = time.monotonic()
        if current == total or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            return True
        return False
