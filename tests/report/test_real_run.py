"""``advconf report`` over a run the CLI really made (tiny spheres: fit, then FGSM), with W&B."""

import csv
import json
from pathlib import Path

from tests.helpers import read_json, run_cli, tiny_spheres_config
from tests.report.results_files import markdown_rows, report


def test_report_of_a_real_run_copies_its_numbers_and_logs_an_offline_wandb_table(tmp_path: Path) -> None:
    config = tiny_spheres_config(tmp_path, width=16)
    run_dir = tmp_path / "checkpoints" / "tiny"
    run_cli(["fit", "--config", config, "--trainer.max_epochs", "1", "--trainer.logger", "false"])
    run_cli(["test", "--config", config, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--trainer.logger", "false",
             "--attack", "fgsm", "--attack.eps", "[0.0, 0.1, 0.3]"])
    result = read_json(run_dir / "results" / "fgsm.json")
    out = tmp_path / "report"

    assert report([tmp_path / "checkpoints", "--out", out, "--wandb"]) == 0

    clean, at_eps = result["clean"]["accuracy"], result["results"][1]["accuracy"]
    row = markdown_rows((out / "report.md").read_text(), "Table 1", "tiny")
    assert row == [["tiny", "32", f"{100 * clean:.1f}", f"{100 * at_eps:.1f}", ""]]
    with open(out / "curves_fgsm.csv") as f:
        assert [float(r["accuracy"]) for r in csv.DictReader(f)] == [r["accuracy"] for r in result["results"]]
    assert (out / "curves_fgsm.png").stat().st_size > 1000
    logged = list(out.glob("wandb/offline-run-*/files/media/table/report/table1_*.table.json"))
    assert logged and json.loads(logged[0].read_text())["data"][0][:2] == ["tiny", "MLP"]
