"""Write the report: ``report.md`` with every section, one CSV per table, one PNG per attack curve."""

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advconf.report import confidence, figures, tables
from advconf.report.collect import Run
from advconf.results import save_figure, write_csv

SECTIONS = ("table1", "table3", "curves", "nonexamples", "confidence", "boundary", "pictures")


def write_report(
    runs: Sequence[Run],
    out: Path,
    attack: str,
    eps: float,
    nonexamples: str | None,
    sections: Sequence[str] = SECTIONS,
    robust_attack: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Render ``sections`` into ``out``; returns every table by file stem (for W&B).

    ``robust_attack``: evaluation of the confidence section (default ``confidence.robust_attack``).
    """
    written: dict[str, list[dict[str, Any]]] = {}
    parts = [f"# advconf report\n\n{_summary(runs)}\n"]

    def table(stem: str, title: str, rows: list[dict[str, Any]], headers: dict[str, str] | None, note: str) -> None:
        parts.append(f"## {title}\n\n{note}\n\n{tables.markdown(rows, headers)}")
        if rows:
            write_csv(out / f"{stem}.csv", rows)
            written[stem] = rows
            parts.append(f"CSV: [{stem}.csv]({stem}.csv)\n")

    if "table1" in sections:
        headers = {"model": "model", "bits": "bits", "clean_accuracy": "test (%)", f"{attack}_accuracy": f"{attack} (%)", "note": "note"}
        note = f"Paper Table 1 layout: accuracy on the test set and under `{attack}` at eps = {eps:g}."
        table("table1", "Table 1 layout", tables.table1_rows(runs, attack, eps), headers, note)
    if "table3" in sections:
        note = f"Paper Table 3 layout: error (%) clean and under `{attack}` at each eps; top-5 only where recorded."
        table("table3", "Table 3 layout", tables.table3_rows(runs, attack), None, note)
    if "curves" in sections:
        parts.append("## Attack curves (Fig 1 style)\n")
        for name in figures.curve_names(runs):
            rows = figures.curve_rows(runs, name)
            save_figure(figures.curves_figure(rows, name, figures.x_label(runs, name)), out / f"curves_{name}.png")
            write_csv(out / f"curves_{name}.csv", rows)
            written[f"curves_{name}"] = rows
            parts.append(f"### {name}\n\n![{name}](curves_{name}.png)\n\nCSV: [curves_{name}.csv](curves_{name}.csv)\n")
    if "nonexamples" in sections:
        rows = tables.nonexample_rows(runs, nonexamples)
        headers = {"run": "run", "mean": "mean conf. (%)", "hit_rate": "hit rate (%)", "auroc": "AUROC (%)"}
        headers |= {key: key for row in rows for key in row if key not in headers}
        evaluation = " or ".join(f"`{name}`" for name in ([nonexamples] if nonexamples else tables.NONEXAMPLE_NAMES))
        note = (
            f"Non-examples ({evaluation}): noise ascended toward each class; max-softmax confidence (%) per "
            "target class, the fraction predicted as their target (hit rate) and the AUROC of max-softmax "
            "for telling natural test inputs from them."
        )
        table("nonexamples", "Non-example confidence (Fig 2 / Fig 6 style)", rows, headers, note)
    if "confidence" in sections:
        parts.append(_confidence(runs, out, robust_attack or confidence.robust_attack(runs, eps), eps, nonexamples, written))
    if "boundary" in sections:
        headers = {
            "run": "run",
            "W,A": "W,A",
            "removed_std_over_mean": "std/mean of radius, removed quadrants (%)",
            "supported_std_over_mean": "std/mean, supported quadrants (%)",
        }
        note = "Fig 5: how far the decision boundary is from a circle (0 = a circle) where training data was removed."
        table("boundary", "Decision boundary (Fig 5)", tables.boundary_rows(runs), headers, note)
    if "pictures" in sections:
        parts.append(_pictures(runs, out))
    (out / "report.md").write_text("\n".join(parts))
    return written


def _confidence(
    runs: Sequence[Run], out: Path, attack: str, eps: float, nonexamples: str | None, written: dict[str, list[dict[str, Any]]]
) -> str:
    """The across-models section: points and correlations as CSV, one scatter PNG per statistic."""
    parts = [
        "## Confidence vs robustness across models (the paper's title claim)\n",
        f"Robust accuracy under `{attack}` at eps = {eps:g} against each confidence statistic the runs have, "
        f"one point per run, and Spearman's rank correlation ρ over the runs with a {confidence.LEVEL:.0%} "
        f"percentile bootstrap interval (runs resampled {confidence.RESAMPLES} times, seed {confidence.SEED}; "
        f"no number below {confidence.MIN_RUNS} runs). If confidence predicts vulnerability, the confidence "
        "levels (non-example confidence, clean confidence, clean ECE) have ρ < 0: the more confident "
        "model is the less robust. The vulnerability AUROCs say, per model, how well low clean confidence "
        "(or logit margin) marks the test examples the attack breaks.\n",
    ]
    rows = confidence.points(runs, attack, eps, nonexamples)
    if not rows:
        return "\n".join(parts + [f"_No run has `{attack}` results at eps = {eps:g}: nothing to compare._\n"])
    entries = confidence.correlations(rows)
    for stem, table_rows in (("confidence_points", rows), ("confidence_correlation", entries)):
        write_csv(out / f"{stem}.csv", table_rows)
        written[stem] = table_rows
    if len(rows) < confidence.MIN_RUNS:
        parts.append(f"**Fewer than {confidence.MIN_RUNS} runs** have `{attack}` results at eps = {eps:g} "
                     f"(n = {len(rows)}): no correlation is reported.\n")
    lines = ["| statistic | runs | Spearman ρ [95% interval] |", "|---|---|---|"]
    lines += [f"| {entry['label']} | {entry['runs']} | {confidence.describe(entry)} |" for entry in entries]
    parts.append("\n".join(lines) + "\n")
    parts.append("CSV: [confidence_correlation.csv](confidence_correlation.csv), [confidence_points.csv](confidence_points.csv)\n")
    for entry in entries:
        name = f"confidence_{entry['statistic']}.png"
        save_figure(confidence.scatter(rows, entry), out / name)
        parts.append(f"### {entry['label']}\n\n![{entry['label']}]({name})\n")
    return "\n".join(parts)


def _pictures(runs: Sequence[Run], out: Path) -> str:
    """Copy each run's pictures (non-example grids, decision boundaries, weights) next to the report.

    Curve PNGs of single evaluations are left out: the multi-run plots above replace them.
    """
    parts = ["## Pictures\n"]
    for run in runs:
        for picture in sorted((run.directory / "results").glob("*.png")):
            if figures.curves(run.results.get(picture.stem, {})):
                continue
            copy = f"{run.label.replace('/', '_')}_{picture.name}"
            shutil.copyfile(picture, out / copy)
            parts.append(f"### {run.label}: {picture.stem}\n\n![{run.label} {picture.stem}]({copy})\n")
    return "\n".join(parts)


def _summary(runs: Sequence[Run]) -> str:
    lines = ["| run | directory | evaluations |", "|---|---|---|"]
    for run in runs:
        lines.append(f"| {run.label} | `{run.directory}` | {', '.join(sorted(run.results)) or tables.MISSING} |")
    return "\n".join(lines)
