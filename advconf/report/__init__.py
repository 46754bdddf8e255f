"""``advconf report``: the paper's tables and figures rendered from the results files of many runs."""

from advconf.report.collect import Run, collect

__all__ = ["Run", "collect"]
