"""``advconf report`` on hand-made results files: the numbers land in the right cells."""

import csv
from pathlib import Path

from advconf.results import write_json
from tests.report.results_files import (
    attack_file,
    fit_config,
    fooling_file,
    markdown_rows,
    offset_file,
    quantization,
    report,
)

PRUNE = "advconf.callbacks.pruning.Pruning"
ADV = "advconf.callbacks.adversarial_training.AdversarialTraining"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_table1_gives_bits_accuracies_and_notes_per_run(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    fit_config(sweep / "4a", [PRUNE], expert_init=False)
    attack_file(sweep / "4a", clean=0.958, accuracies={0.0: 0.958, 0.1: 0.667}, settings=quantization(1))
    fit_config(sweep / "4l", [ADV], expert_init=True)
    attack_file(sweep / "4l", clean=0.967, accuracies={0.0: 0.967, 0.05: 0.9, 0.1: 0.823})
    out = tmp_path / "out"

    assert report([sweep, "--out", out]) == 0

    text = (out / "report.md").read_text()
    assert markdown_rows(text, "Table 1", "4a")[0] == ["4a", "1", "95.8", "66.7", "rand init + prune"]
    assert markdown_rows(text, "Table 1", "4l")[0] == ["4l", "32", "96.7", "82.3", "adv. training"]
    rows = read_csv(out / "table1.csv")
    assert [(r["model"], r["bits"], float(r["fgsm_accuracy"]), r["architecture"]) for r in rows] == [
        ("4a", "1", 0.667, "LogisticRegression"),
        ("4l", "32", 0.823, "LogisticRegression"),
    ]


def test_table1_picks_the_requested_attack_and_eps_and_marks_untrained_models(tmp_path: Path) -> None:
    attack_file(tmp_path / "run", clean=0.9, accuracies={0.0: 0.9, 0.2: 0.4}, name="pgd", checkpoint=None)

    assert report([tmp_path / "run", "--out", tmp_path / "out", "--attack", "pgd", "--eps", "0.2"]) == 0

    table1 = read_csv(tmp_path / "out" / "table1.csv")
    assert (float(table1[0]["pgd_accuracy"]), table1[0]["note"]) == (0.4, "no training")


def test_table3_shows_wag_and_error_per_eps_with_dash_where_top5_is_absent(tmp_path: Path) -> None:
    grid = {0.0: 0.612, 2 / 255: 0.021, 8 / 255: 0.012}
    attack_file(tmp_path / "w32", clean=0.612, accuracies=grid, top5={"clean": 0.838, 2 / 255: 0.165, 8 / 255: 0.093})
    attack_file(tmp_path / "w1", clean=0.496, accuracies={0.0: 0.496, 2 / 255: 0.021}, settings=quantization(1, 2, 6))
    out = tmp_path / "out"

    assert report([tmp_path / "w32", tmp_path / "w1", "--out", out, "--sections", "table3"]) == 0

    text = (out / "report.md").read_text()
    assert "| run | W,A,G | error | clean | eps=2/255 | eps=8/255 |" in text
    w32, w1 = markdown_rows(text, "Table 3", "w32"), markdown_rows(text, "Table 3", "w1")
    assert w32 == [["w32", "32,32,32", "top-1", "38.8", "97.9", "98.8"], ["w32", "32,32,32", "top-5", "16.2", "83.5", "90.7"]]
    assert w1 == [["w1", "1,2,6", "top-1", "50.4", "97.9", "—"], ["w1", "1,2,6", "top-5", "—", "—", "—"]]
    assert "Table 1" not in text  # only the section asked for


def test_offset_curves_of_several_runs_share_one_plot_with_a_line_per_sign(tmp_path: Path) -> None:
    offsets = [0.0, 0.5, 1.0]
    offset_file(tmp_path / "natural", added=[0.9, 0.6, 0.1], subtracted=[0.9, 0.8, 0.1], offsets=offsets)
    offset_file(tmp_path / "pgd", added=[0.8, 0.3, 0.1], subtracted=[0.8, 0.5, 0.1], offsets=offsets)
    out = tmp_path / "out"

    assert report([tmp_path / "natural", tmp_path / "pgd", "--out", out]) == 0

    assert (out / "curves_offset.png").read_bytes()[:4] == b"\x89PNG"
    rows = read_csv(out / "curves_offset.csv")
    assert {(r["run"], r["curve"]) for r in rows} == {(run, sign) for run in ("natural", "pgd") for sign in ("added", "subtracted")}
    assert [float(r["accuracy"]) for r in rows if (r["run"], r["curve"]) == ("pgd", "added")] == [0.8, 0.3, 0.1]
    assert "![offset](curves_offset.png)" in (out / "report.md").read_text()


def test_nonexample_table_gives_confidence_per_class_and_mean(tmp_path: Path) -> None:
    fooling_file(tmp_path / "l2", {"sandal": [0.5, 0.3], "sneaker": [0.9, 0.9]}, auroc=0.8)
    out = tmp_path / "out"

    assert report([tmp_path / "l2", "--out", out, "--sections", "nonexamples"]) == 0

    text = (out / "report.md").read_text()
    assert "| run | mean conf. (%) | hit rate (%) | AUROC (%) | sandal | sneaker |" in text
    assert markdown_rows(text, "Non-example", "l2") == [["l2", "65.0", "100.0", "80.0", "40.0", "90.0"]]
    assert float(read_csv(out / "nonexamples.csv")[0]["sneaker"]) == 0.9


def test_boundary_table_and_pictures_are_copied_next_to_the_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "w1a2"
    boundary = {
        "train_region": "opposing_quadrants_removed",
        "removed_quadrants": {"mean_radius": 1.1, "std_over_mean": 0.04},
        "supported_quadrants": {"mean_radius": 1.15, "std_over_mean": 0.02},
        "model_settings": quantization(1, 2),
    }
    write_json(run_dir / "results" / "decision_boundary.json", boundary)
    (run_dir / "results" / "decision_boundary.png").write_bytes(b"\x89PNG boundary")
    fooling_file(run_dir, {"a": [0.5]})
    (run_dir / "results" / "fooling.png").write_bytes(b"\x89PNG grid")
    out = tmp_path / "out"

    assert report([tmp_path / "runs", "--out", out, "--sections", "boundary", "pictures"]) == 0

    text = (out / "report.md").read_text()
    assert markdown_rows(text, "Decision boundary", "w1a2") == [["w1a2", "1,2", "4.0", "2.0"]]
    assert (out / "w1a2_decision_boundary.png").read_bytes() == b"\x89PNG boundary"
    assert "![w1a2 fooling](w1a2_fooling.png)" in text
