"""What ``advconf report`` accepts: partial results are shown as missing; bad input is one line and exit 2."""

from pathlib import Path

import pytest

from tests.report.results_files import attack_file, fit_config, markdown_rows, report


def test_sweep_list_rows_without_results_are_shown_as_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # sweep lists name run directories relative to the working directory
    attack_file(tmp_path / "runs" / "4k", clean=0.95, accuracies={0.0: 0.95, 0.1: 0.811})
    fit_config(tmp_path / "runs" / "4l")  # fitted, not evaluated yet
    sweep = tmp_path / "sweep.txt"
    sweep.write_text(
        "# ROW ARGS\n"
        "4k --trainer.default_root_dir=runs/4k --trainer.max_steps=10\n"
        "4l --trainer.default_root_dir=runs/4l\n"
        "4m --model.x=1 --trainer.default_root_dir=runs/4m\n"  # never run
    )

    assert report([sweep, "--out", "out"]) == 0

    text = (tmp_path / "out" / "report.md").read_text()
    assert markdown_rows(text, "Table 1", "4k") == [["4k", "32", "95.0", "81.1", ""]]
    assert markdown_rows(text, "Table 1", "4l") == [["4l", "—", "—", "—", "missing"]]
    assert markdown_rows(text, "Table 1", "4m") == [["4m", "—", "—", "—", "missing"]]


def test_a_run_directory_and_one_of_its_results_files_count_as_one_run(tmp_path: Path) -> None:
    path = attack_file(tmp_path / "run", clean=0.9, accuracies={0.0: 0.9, 0.1: 0.5})

    assert report([tmp_path / "run", path, "--out", tmp_path / "out"]) == 0

    assert len(markdown_rows((tmp_path / "out" / "report.md").read_text(), "Table 1", "run")) == 1


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: [t / "nowhere", "--out", t / "out"], "no such file or directory"),
        (lambda t: [t / "broken.json", "--out", t / "out"], "is not a readable results file"),
        (lambda t: [t / "other.json", "--out", t / "out"], "is not an advconf results file"),
        (lambda t: [t / "rows.txt", "--out", t / "out"], "sets no --trainer.default_root_dir"),
        (lambda t: [t / "broken.json"], "--out"),
        (lambda t: [t / "other.json", "--out", t / "out", "--sections", "table9"], "invalid choice"),
        (lambda t: [t / "other.json", "--out", t / "out", "--ep", "0.1"], "unrecognized arguments"),
    ],
    ids=["missing path", "corrupt json", "foreign json", "sweep row without dir", "no --out", "bad section", "abbreviation"],
)
def test_bad_input_fails_with_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture, make_args, message: str) -> None:
    (tmp_path / "broken.json").write_text('{"name": "fgsm", ')
    (tmp_path / "other.json").write_text('[{"name": "fgsm"}]')
    (tmp_path / "rows.txt").write_text("4a --trainer.max_steps=1\n")

    assert report(make_args(tmp_path)) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("advconf: error: ") and message in err[0]
    assert not (tmp_path / "out" / "report.md").exists()
