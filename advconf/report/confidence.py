"""Across models, the paper's title claim: does a more confident model have lower robust accuracy?

One point per run: robust accuracy at the report's eps (from the ``autoattack`` or ``pgd`` results)
and each confidence statistic the run has — the mean confidence on non-examples, the clean mean
confidence and ECE (from the same attack evaluation's clean pass) and the vulnerability-prediction
AUROC at that eps (by clean confidence and by clean logit margin). Per statistic, Spearman's rho over
the runs with both values, with a bootstrap interval (``rank_correlation``); fewer than
``MIN_RUNS`` runs get no number.
"""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from advconf.plots import labelled_scatter
from advconf.report.collect import Run
from advconf.report.rank_correlation import rank_correlation
from advconf.report.tables import find_row, nonexample_results

# Statistic key -> axis label. The first three are confidence levels; the AUROCs say how well clean
# confidence (or margin) picks out the examples the attack breaks (results key per eps row).
STATISTICS = {
    "nonexample_confidence": "mean confidence on non-examples",
    "clean_confidence": "clean mean confidence",
    "clean_ece": "clean ECE",
    "vulnerability_auroc_confidence": "vulnerability AUROC (clean confidence)",
    "vulnerability_auroc_margin": "vulnerability AUROC (clean logit margin)",
}
ROBUST_ATTACKS = ("autoattack", "pgd")  # the first one the runs have is used
MIN_RUNS = 4
RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


def robust_attack(runs: Sequence[Run], eps: float) -> str:
    """The evaluation robust accuracy comes from: the first of ROBUST_ATTACKS with a row at ``eps``."""
    for name in ROBUST_ATTACKS:
        if any(find_row(run.results[name], eps) for run in runs if name in run.results):
            return name
    return ROBUST_ATTACKS[-1]


def points(runs: Sequence[Run], attack: str, eps: float, nonexamples: str | None) -> list[dict[str, Any]]:
    """Per run with ``attack`` results at ``eps``: robust accuracy and every statistic (None where absent)."""
    rows = []
    for run in runs:
        at_eps = find_row(run.results[attack], eps) if attack in run.results else None
        if at_eps is None or _number(at_eps.get("accuracy")) is None:
            continue
        clean = run.results[attack].get("clean") or {}
        non_examples = nonexample_results(run, nonexamples) or {}
        values = {
            "nonexample_confidence": non_examples.get("mean_confidence"),
            "clean_confidence": clean.get("confidence"),
            "clean_ece": clean.get("ece"),
            "vulnerability_auroc_confidence": at_eps.get("vulnerability_auroc_confidence"),
            "vulnerability_auroc_margin": at_eps.get("vulnerability_auroc_margin"),
        }
        rows.append(
            {"run": run.label, "attack": attack, "eps": eps, "clean_accuracy": clean.get("accuracy"), "robust_accuracy": at_eps["accuracy"]}
            | {key: _number(value) for key, value in values.items()}
        )
    return rows


def correlations(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per statistic some run has: runs with both values, Spearman's rho and its bootstrap interval."""
    table = []
    for key, label in STATISTICS.items():
        pairs = [(row[key], row["robust_accuracy"]) for row in rows if row[key] is not None]
        if not pairs:
            continue
        entry: dict[str, Any] = {"statistic": key, "label": label, "runs": len(pairs)}
        if len(pairs) < MIN_RUNS:
            entry |= {"spearman": None, "ci_low": None, "ci_high": None, "resamples_used": 0,
                      "note": f"fewer than {MIN_RUNS} runs: no correlation reported"}
        else:
            x, y = np.array(pairs).T
            result = rank_correlation(x, y, RESAMPLES, SEED, LEVEL)
            note = "" if result.rho is not None else "a constant variable: rank correlation undefined"
            entry |= {"spearman": result.rho, "ci_low": result.low, "ci_high": result.high,
                      "resamples_used": result.used, "note": note}
        table.append(entry | {"resamples": RESAMPLES, "seed": SEED, "level": LEVEL})
    return table


def describe(entry: dict[str, Any]) -> str:
    """``rho = -0.62 [-0.95, 0.10]`` (n runs), or the note instead of a number."""
    if entry["spearman"] is None:
        return f"{entry['note']} (n = {entry['runs']})"
    interval = "" if entry["ci_low"] is None else f" [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]"
    return f"ρ = {entry['spearman']:.2f}{interval} (n = {entry['runs']})"


def scatter(rows: Sequence[dict[str, Any]], entry: dict[str, Any]) -> Figure:
    """Robust accuracy against one statistic, each point labelled with its run."""
    key = entry["statistic"]
    shown = [row for row in rows if row[key] is not None]
    attack, eps = rows[0]["attack"], rows[0]["eps"]
    return labelled_scatter(
        [row[key] for row in shown], [row["robust_accuracy"] for row in shown], [row["run"] for row in shown],
        xlabel=entry["label"], ylabel=f"{attack} accuracy at eps {eps:g}", title=f"{entry['label']}\nSpearman {describe(entry)}",
    )


def _number(value: Any) -> float | None:
    """A finite number, else None (results files write an undefined metric as null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
