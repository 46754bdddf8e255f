"""Attack curves of several runs on one plot (the paper's Fig 1 style): accuracy vs budget."""

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from advconf.plots import runs_curves_figure
from advconf.report.collect import Run


def curves(payload: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """Points ``{eps, accuracy, confidence}`` of one evaluation, per curve.

    An attack evaluation has one curve (named ""), its ``results`` a list of rows with ``eps``; the
    constant offset's ``results`` map each sign ("added", "subtracted") to rows with ``offset``.
    """
    results = payload.get("results") or []
    groups = results if isinstance(results, dict) else {"": results}
    return {
        variant: [
            {"eps": row.get("eps", row.get("offset")), "accuracy": row.get("accuracy"), "confidence": row.get("confidence")}
            for row in rows
        ]
        for variant, rows in groups.items()
        if isinstance(rows, list) and rows
    }


def curve_rows(runs: Sequence[Run], name: str) -> list[dict[str, Any]]:
    """Long-format rows (run, curve, eps, accuracy, confidence) of evaluation ``name`` in every run."""
    return [
        {"run": run.label, "curve": variant, **point}
        for run in runs
        if name in run.results
        for variant, points in curves(run.results[name]).items()
        for point in points
    ]


def curve_names(runs: Sequence[Run]) -> list[str]:
    """Evaluations with a curve of at least two budgets in some run: the ones worth a plot."""
    return sorted(
        {name for run in runs for name, payload in run.results.items() if any(len(c) > 1 for c in curves(payload).values())}
    )


def x_label(runs: Sequence[Run], name: str) -> str:
    is_offset = any("offsets" in run.results[name] for run in runs if name in run.results)
    return "offset magnitude |c|" if is_offset else "eps"


def curves_figure(rows: Sequence[dict[str, Any]], name: str, xlabel: str) -> Figure:
    """One line per (run, curve) of ``curve_rows``; every line has its own budgets."""
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for row in rows:
        xs, ys = lines.setdefault(f"{row['run']} ({row['curve']})" if row["curve"] else row["run"], ([], []))
        xs.append(row["eps"])
        ys.append(row["accuracy"])
    return runs_curves_figure(lines, xlabel=xlabel, ylabel="accuracy", title=name)
