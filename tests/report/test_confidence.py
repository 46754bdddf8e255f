"""``advconf report``'s confidence section: robust accuracy vs confidence statistics across runs."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.report.results_files import attack_file, fooling_file, report
from tests.report.test_rank_correlation import oracle_rho

# run -> (PGD accuracy at 0.1, non-example confidence, clean confidence, clean ECE, vulnerability AUROC by confidence)
RUNS = {
    "fp_l2_0": (0.05, 1.00, 0.97, 0.030, 0.80),
    "fp_l2_05": (0.30, 0.55, 0.70, 0.080, 0.70),
    "w1_l2_0": (0.10, 0.98, 0.93, 0.020, 0.75),
    "w1_l2_05": (0.25, 0.60, 0.72, 0.050, None),  # null: every example broke
    "w1a2_l2_0": (0.15, 0.90, 0.90, 0.040, 0.65),
}


def study_run(root: Path, label: str, values: tuple, attack: str = "pgd", nonexamples: str = "fooling") -> None:
    robust, nonexample_confidence, clean_confidence, ece, auroc = values
    attack_file(root / label, clean=0.9, accuracies={0.0: 0.9, 0.1: robust}, name=attack,
                clean_extra={"confidence": clean_confidence, "ece": ece},
                row_extra={0.1: {"vulnerability_auroc_confidence": auroc, "vulnerability_auroc_margin": None}})
    fooling_file(root / label, {"a": [nonexample_confidence]}, name=nonexamples)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def section(out: Path) -> str:
    text = (out / "report.md").read_text()
    return text[text.index("## Confidence vs robustness"):]


def test_points_correlations_and_pictures_over_five_runs(tmp_path):
    for i, (label, values) in enumerate(RUNS.items()):
        # both names of the non-example evaluation are read
        study_run(tmp_path / "runs", label, values, nonexamples="fooling" if i % 2 else "non-examples")
    out = tmp_path / "out"

    assert report([tmp_path / "runs", "--out", out, "--sections", "confidence", "--wandb"]) == 0

    points = {row["run"]: row for row in read_csv(out / "confidence_points.csv")}
    assert set(points) == set(RUNS)
    assert float(points["w1_l2_0"]["nonexample_confidence"]) == 0.98 and float(points["w1_l2_0"]["robust_accuracy"]) == 0.10
    assert points["w1_l2_05"]["vulnerability_auroc_confidence"] == "" and points["fp_l2_0"]["attack"] == "pgd"
    assert float(points["fp_l2_0"]["clean_accuracy"]) == 0.9
    entries = {row["statistic"]: row for row in read_csv(out / "confidence_correlation.csv")}
    assert set(entries) == {"nonexample_confidence", "clean_confidence", "clean_ece", "vulnerability_auroc_confidence"}
    robust = np.array([v[0] for v in RUNS.values()])
    for column, key in enumerate(["nonexample_confidence", "clean_confidence", "clean_ece"], start=1):
        expected = oracle_rho(np.array([v[column] for v in RUNS.values()]), robust)
        assert float(entries[key]["spearman"]) == pytest.approx(expected), key
        assert float(entries[key]["ci_low"]) <= float(entries[key]["spearman"]) <= float(entries[key]["ci_high"])
        assert (entries[key]["runs"], entries[key]["resamples"], entries[key]["seed"]) == ("5", "2000", "0")
    assert float(entries["nonexample_confidence"]["spearman"]) == -1.0  # the more confident, the less robust
    assert entries["vulnerability_auroc_confidence"]["runs"] == "4"  # the null value is left out
    text = section(out)
    assert "| mean confidence on non-examples | 5 | ρ = -1.00 [-1.00, -1.00] (n = 5) |" in text
    for key in entries:
        png = out / f"confidence_{key}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
        assert f"](confidence_{key}.png)" in text
    logged = list(out.glob("wandb/offline-run-*/files/media/table/report/confidence_correlation_*.table.json"))
    assert logged and len(json.loads(logged[0].read_text())["data"]) == 4
    assert list(out.glob("wandb/offline-run-*/files/media/images/report/confidence_clean_ece_*.png"))


def test_fewer_than_four_runs_gives_no_number(tmp_path):
    for label in list(RUNS)[:3]:
        study_run(tmp_path / "runs", label, RUNS[label])
    out = tmp_path / "out"

    assert report([tmp_path / "runs", "--out", out, "--sections", "confidence"]) == 0

    text = section(out)
    assert "**Fewer than 4 runs** have `pgd` results at eps = 0.1 (n = 3): no correlation is reported." in text
    assert "| clean ECE | 3 | fewer than 4 runs: no correlation reported (n = 3) |" in text
    assert "ρ =" not in text
    assert {row["spearman"] for row in read_csv(out / "confidence_correlation.csv")} == {""}
    assert (out / "confidence_clean_ece.png").read_bytes()[:4] == b"\x89PNG"  # the points are still shown


def test_autoattack_results_are_preferred_and_robust_attack_picks_another(tmp_path):
    for label, values in RUNS.items():
        study_run(tmp_path / "runs", label, values)
        study_run(tmp_path / "runs", label, (values[0] / 2, *values[1:]), attack="autoattack")
    out = tmp_path / "out"

    assert report([tmp_path / "runs", "--out", out, "--sections", "confidence"]) == 0
    rows = read_csv(out / "confidence_points.csv")
    assert {r["attack"] for r in rows} == {"autoattack"} and float(rows[0]["robust_accuracy"]) == RUNS[rows[0]["run"]][0] / 2

    assert report([tmp_path / "runs", "--out", out, "--sections", "confidence", "--robust-attack", "pgd"]) == 0
    assert {r["attack"] for r in read_csv(out / "confidence_points.csv")} == {"pgd"}


def test_runs_without_the_attack_at_the_eps_say_there_is_nothing_to_compare(tmp_path):
    study_run(tmp_path / "runs", "a", RUNS["fp_l2_0"])
    out = tmp_path / "out"

    assert report([tmp_path / "runs", "--out", out, "--sections", "confidence", "--eps", "0.3"]) == 0

    assert "_No run has `pgd` results at eps = 0.3: nothing to compare._" in section(out)
    assert not list(out.glob("confidence_*"))
