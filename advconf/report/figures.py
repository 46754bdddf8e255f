"""Attack curves of several runs on one plot (the paper's Fig 1 style): accuracy vs budget."""

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

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
    """One line per (run, curve) of ``curve_rows``; every line has its own budgets. Built without
    pyplot (as ``advconf.plots``): nothing to close, no GUI backend."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        lines.setdefault(f"{row['run']} ({row['curve']})" if row["curve"] else row["run"], []).append(row)
    for i, (label, points) in enumerate(lines.items()):
        # The colour cycle has 10 colours: later lines get a new dash pattern so no two look alike.
        style = ("-", "--", ":", "-.")[i // 10 % 4]
        ax.plot([p["eps"] for p in points], [p["accuracy"] for p in points], marker="o", linestyle=style, label=label)
    ax.set(xlabel=xlabel, ylabel="accuracy", title=name, ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))  # outside: curves stay visible
    return fig
