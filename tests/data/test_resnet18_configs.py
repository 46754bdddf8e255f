"""The paper's Table 3 configs: configs/resnet18_imagenet.yaml plus one small file per W,A,G row."""

import json
from pathlib import Path

import pytest
import yaml

from advconf.data.ffcv_writer import write_splits
from tests.conftest import require
from tests.data.jpeg_folder import HAVE_FFCV, collect_ffcv_garbage, make_jpeg_folder  # noqa: F401 (autouse fixture)
from tests.helpers import REPO, run_cli

pytestmark = pytest.mark.filterwarnings("ignore:Exception ignored in. <finalize object:pytest.PytestUnraisableExceptionWarning")

BASE = REPO / "configs" / "resnet18_imagenet.yaml"
TABLE3_ROWS = ["32,32,32", "3,3,32", "3,3,8", "3,3,6", "2,2,32", "2,2,6", "1,2,32", "1,2,8", "1,2,6", "1,1,32", "1,1,8"]


def row_config(row: str) -> Path:
    w, a, g = row.split(",")
    return REPO / "configs" / f"resnet18_w{w}a{a}g{g}.yaml"


def resolved(row: str, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", BASE, "--config", row_config(row), "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("row", TABLE3_ROWS)
def test_each_table3_row_adds_its_bits_and_its_own_run_directory_to_the_base(row: str, capsys: pytest.CaptureFixture) -> None:
    config = resolved(row, capsys)
    name = row_config(row).stem

    trainer = config["trainer"]
    assert trainer["default_root_dir"] == f"checkpoints/{name.replace('_', '/')}"
    checkpoint = next(c for c in trainer["callbacks"] if c["class_path"].endswith("ModelCheckpoint"))
    assert checkpoint["init_args"]["dirpath"] == f"{trainer['default_root_dir']}/ckpt"
    quantization = [c["init_args"] for c in trainer["callbacks"] if c["class_path"].endswith("Quantization")]
    bits = [[q["weight_bits"], q["activation_bits"], q["gradient_bits"]] for q in quantization]
    assert bits == ([] if row == "32,32,32" else [[int(b) for b in row.split(",")]])
    assert config["attack_defaults"]["fgsm"]["eps"] == pytest.approx([0, 2 / 255, 4 / 255, 8 / 255])


def test_the_sweep_list_has_one_line_per_table3_row() -> None:
    lines = [line for line in (REPO / "configs" / "resnet18_table3.txt").read_text().splitlines() if line and not line.startswith("#")]

    assert lines == [f"configs/resnet18_imagenet.yaml --config configs/{row_config(row).name}" for row in TABLE3_ROWS]


def test_w2a2g6_trains_and_is_evaluated_with_fgsm_through_ffcv_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(HAVE_FFCV, "ffcv is not installed (pip install advconf[ffcv])")
    make_jpeg_folder(tmp_path / "images", {"train": 4, "val": 2}, sizes=((40, 48), (48, 40)))
    write_splits(tmp_path / "images", tmp_path / "data", num_workers=1)
    monkeypatch.chdir(tmp_path)  # the row config's run directory is relative: checkpoints/resnet18/w2a2g6
    tiny = [
        "--trainer.precision", "32", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
        "--model.model.init_args.num_classes", "3", "--model.model.init_args.input_shape", "[3, 32, 32]",
        "--data.init_args.train_path", "data/train.beton", "--data.init_args.val_path", "data/val.beton",
        "--data.init_args.num_classes", "3", "--data.init_args.image_size", "32",
        "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "1",
    ]
    configs = ["--config", BASE, "--config", row_config("2,2,6")]
    run_dir = tmp_path / "checkpoints" / "resnet18" / "w2a2g6"

    run_cli(["fit", *configs, *tiny])
    run_cli(["test", *configs, *tiny, "--ckpt_path", run_dir / "ckpt" / "last.ckpt", "--attack", "fgsm"])

    result = json.loads((run_dir / "results" / "fgsm.json").read_text())
    assert [round(r["eps"] * 255) for r in result["results"]] == [0, 2, 4, 8]
    saved = [p.read_text() for p in run_dir.rglob("config.yaml")]  # in the logger's directory
    assert saved and all("weight_bits: 2" in text for text in saved)
