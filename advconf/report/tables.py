"""The paper's table layouts as rows of plain values (for CSV) and as Markdown.

Accuracies and confidences stay fractions in the rows; Markdown shows them as percentages with one
decimal, as the paper does. ``None`` is a value that was not measured ("—"); a run without any
results says "missing".
"""

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from advconf.report.collect import Run

MISSING = "missing"
FULL_PRECISION = 32


def find_row(payload: dict[str, Any], eps: float) -> dict[str, Any] | None:
    """The results row of budget ``eps`` (budgets are compared to 1e-6: YAML floats are rounded)."""
    rows = payload.get("results")
    if not isinstance(rows, list):
        return None  # not an eps-indexed attack evaluation (e.g. the offset's rows per sign)
    return next((r for r in rows if math.isclose(r.get("eps", math.nan), eps, abs_tol=1e-6)), None)


def bits(run: Run) -> tuple[int, int, int]:
    """(W, A, G) bits of the run's model; results files of any evaluation record them."""
    for payload in run.results.values():
        quantization = (payload.get("model_settings") or {}).get("quantization")
        if quantization:
            return tuple(quantization.get(f"{k}_bits", FULL_PRECISION) for k in ("weight", "activation", "gradient"))
    return (FULL_PRECISION,) * 3


def architecture(run: Run) -> str | None:
    class_path = ((run.config.get("model") or {}).get("model") or {}).get("class_path")
    return class_path.rpartition(".")[2] if isinstance(class_path, str) else None


def training_notes(run: Run, attack: str) -> str:
    """Table 1's NOTE column, from the run's config: what sets the row apart from plain training."""
    if run.missing:
        return MISSING
    notes = []
    if (run.results.get(attack) or {}).get("checkpoint", "") is None:
        notes.append("no training")
    model_args = ((run.config.get("model") or {}).get("model") or {}).get("init_args") or {}
    if model_args.get("expert_init") is False:
        notes.append("rand init")
    callbacks = [c.get("class_path", "") for c in (run.config.get("trainer") or {}).get("callbacks") or [] if isinstance(c, dict)]
    if any(c.endswith(".Pruning") or c.endswith(".ModelPruning") for c in callbacks):
        notes.append("prune")
    if any(c.endswith(".AdversarialTraining") for c in callbacks):
        notes.append("adv. training")
    return " + ".join(notes)


def table1_rows(runs: Sequence[Run], attack: str, eps: float) -> list[dict[str, Any]]:
    """MODEL, BITS, TEST, attack at ``eps``, NOTE: one row per run that has ``attack`` results (or none)."""
    rows = []
    for run in runs:
        payload = run.results.get(attack)
        if payload is None and not run.missing:
            continue  # a run of another kind of experiment
        at_eps = find_row(payload, eps) if payload else None
        rows.append(
            {
                "model": run.label,
                "architecture": architecture(run),
                "bits": bits(run)[0] if payload else None,
                "clean_accuracy": (payload.get("clean") or {}).get("accuracy") if payload else None,
                f"{attack}_accuracy": at_eps.get("accuracy") if at_eps else None,
                "eps": eps,
                "note": training_notes(run, attack),
            }
        )
    return rows


def eps_label(eps: float) -> str:
    """``2/255`` for budgets on the 8-bit pixel grid (Table 3's units), else the number."""
    fraction = Fraction(eps).limit_denominator(255)
    if 0 < eps < 1 and fraction.denominator == 255 and math.isclose(float(fraction), eps, abs_tol=1e-6):
        return f"{fraction.numerator}/255"
    return f"{eps:g}"


def table3_rows(runs: Sequence[Run], attack: str) -> list[dict[str, Any]]:
    """W,A,G and top-1 / top-5 error, clean and at every budget of ``attack``; top-5 only when recorded."""
    evaluated = [run for run in runs if attack in run.results or run.missing]
    grid = sorted({r["eps"] for run in evaluated for r in (run.results.get(attack) or {}).get("results", []) if r["eps"] > 0})
    rows = []
    for run in evaluated:
        payload = run.results.get(attack) or {}
        for error, key in (("top-1", "accuracy"), ("top-5", "top5_accuracy")):
            row: dict[str, Any] = {"run": run.label, "W,A,G": ",".join(map(str, bits(run))) if payload else MISSING, "error": error}
            row["clean"] = _error((payload.get("clean") or {}).get(key))
            for eps in grid:
                at_eps = find_row(payload, eps) or {}
                row[f"eps={eps_label(eps)}"] = _error(at_eps.get(key))
            rows.append(row)
    return rows


def _error(accuracy: float | None) -> float | None:
    return None if accuracy is None else 1.0 - accuracy


def markdown(rows: Sequence[dict[str, Any]], headers: dict[str, str] | None = None) -> str:
    """A Markdown table of ``headers`` (key -> header; default all keys); fractions as percentages."""
    if not rows:
        return "_no runs with these results_\n"
    headers = headers or {key: key for key in rows[0]}
    lines = ["| " + " | ".join(headers.values()) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(key)) for key in headers) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{100 * value:.1f}"
    return str(value)


NONEXAMPLE_NAMES = ("non-examples", "fooling")  # the non-example preset's name, new and old


def nonexample_results(run: Run, name: str | None) -> dict[str, Any] | None:
    """The run's non-example evaluation: ``name``, or by default the first of NONEXAMPLE_NAMES it has."""
    names = (name,) if name else NONEXAMPLE_NAMES
    return next((run.results[n] for n in names if n in run.results), None)


def nonexample_rows(runs: Sequence[Run], name: str | None) -> list[dict[str, Any]]:
    """Per run: mean confidence, target hit rate, AUROC natural vs non-examples, then the mean
    confidence of the non-examples ascended toward each class (columns named by class)."""
    rows = []
    for run in runs:
        payload = nonexample_results(run, name)
        if payload is None and not run.missing:
            continue
        row: dict[str, Any] = {"run": run.label, "mean": None, "hit_rate": None, "auroc": None}
        if payload:
            row.update(mean=payload.get("mean_confidence"), hit_rate=payload.get("hit_rate"), auroc=payload.get("detection_auroc"))
            per_class: dict[str, list[float]] = {}
            for example in payload.get("non_examples") or []:
                per_class.setdefault(str(example.get("class_name", example.get("target"))), []).append(example["confidence"])
            row.update({label: sum(values) / len(values) for label, values in per_class.items()})
        else:
            row["mean"] = MISSING
        rows.append(row)
    return rows


def boundary_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Fig 5: spread of the decision boundary's radius (std / mean; 0 = a circle) where training data
    was removed and where it was kept, from ``results/decision_boundary.json``."""
    rows = []
    for run in runs:
        payload = run.results.get("decision_boundary")
        if payload is None:
            continue
        weight, activation, _ = bits(run)
        removed, kept = payload.get("removed_quadrants") or {}, payload.get("supported_quadrants") or {}
        rows.append(
            {
                "run": run.label,
                "W,A": f"{weight},{activation}",
                "removed_std_over_mean": removed.get("std_over_mean"),
                "supported_std_over_mean": kept.get("std_over_mean"),
                "removed_mean_radius": removed.get("mean_radius"),
                "supported_mean_radius": kept.get("mean_radius"),
            }
        )
    return rows
