"""The paper's Table 3 configs: configs/resnet18_imagenet.yaml (the base) and one complete config per
W,A,G row, which works by itself and stacked after the base."""

import json
from pathlib import Path

import pytest
import yaml

from tests.data.jpeg_folder import make_jpeg_folder
from tests.helpers import REPO, run_cli

BASE = REPO / "configs" / "resnet18_imagenet.yaml"
TABLE3_ROWS = ["32,32,32", "3,3,32", "3,3,8", "3,3,6", "2,2,32", "2,2,6", "1,2,32", "1,2,8", "1,2,6", "1,1,32", "1,1,8"]


def row_config(row: str) -> Path:
    w, a, g = row.split(",")
    return REPO / "configs" / f"resnet18_w{w}a{a}g{g}.yaml"


def print_config(configs: list[Path], capsys: pytest.CaptureFixture) -> dict:
    args = [a for config in configs for a in ("--config", config)]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("row", TABLE3_ROWS)
def test_each_table3_row_is_the_base_plus_its_bits_and_its_own_run_directory(row: str) -> None:
    """Read as YAML: a row repeats every base setting, so it works alone and stacking it after the
    base changes nothing; it differs only in its run directory, logger name and callbacks."""
    base, config = yaml.safe_load(BASE.read_text()), yaml.safe_load(row_config(row).read_text())
    name = row_config(row).stem.removeprefix("resnet18_")
    run_dir = f"checkpoints/resnet18/{name}"

    trainer = config["trainer"]
    assert trainer.pop("default_root_dir") == run_dir
    assert trainer["logger"]["init_args"].pop("name") == f"resnet18_{name}"
    assert trainer["logger"]["init_args"].pop("save_dir") == run_dir
    callbacks = trainer.pop("callbacks")
    assert callbacks[: len(base["trainer"]["callbacks"])] == base["trainer"]["callbacks"]
    checkpoint, *quantization = callbacks[len(base["trainer"]["callbacks"]):]
    assert checkpoint == {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                          "init_args": {"dirpath": f"{run_dir}/ckpt", "save_last": True}}
    bits = [[q["init_args"][k] for k in ("weight_bits", "activation_bits", "gradient_bits")] for q in quantization]
    assert bits == ([] if row == "32,32,32" else [[int(b) for b in row.split(",")]])
    base["trainer"].pop("callbacks")
    assert config == base
    assert config["model"]["model"]["class_path"] == "advconf.models.DoReFaResNet18"
    assert config["attack_defaults"]["fgsm"]["eps"] == pytest.approx([0, 2 / 255, 4 / 255, 8 / 255])


def test_a_row_alone_and_stacked_after_the_base_resolve_to_the_same_config(capsys: pytest.CaptureFixture) -> None:
    row = row_config("1,2,6")
    assert print_config([row], capsys) == print_config([BASE, row], capsys)


def test_the_sweep_list_has_one_line_per_table3_row() -> None:
    lines = [line for line in (REPO / "configs" / "resnet18_table3.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == [f"configs/{row_config(row).name}" for row in TABLE3_ROWS]


def test_a_row_config_alone_trains_and_its_stacked_form_evaluates_it_with_fgsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`advconf fit --config configs/resnet18_w2a2g6.yaml` on a tiny ImageFolder set, then `test --attack
    fgsm` with the base and the row stacked: the same quantised model is rebuilt (a different one would
    be refused when the checkpoint loads)."""
    make_jpeg_folder(tmp_path / "images", {"train": 4, "val": 2}, sizes=((40, 48), (48, 40)))
    monkeypatch.chdir(tmp_path)  # the row config's run directory is relative: checkpoints/resnet18/w2a2g6
    tiny = [
        "--trainer.precision", "32", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
        "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.enable_progress_bar", "false",
        "--model.model.init_args.num_classes", "3", "--model.model.init_args.input_shape", "[3, 32, 32]",
        "--data.init_args.backend", "folder", "--data.init_args.channels_last", "false",
        "--data.init_args.train_path", "images/train", "--data.init_args.val_path", "images/val",
        "--data.init_args.num_classes", "3", "--data.init_args.image_size", "32",
        "--data.init_args.batch_size", "4", "--data.init_args.num_workers", "0",
    ]
    row = row_config("2,2,6")
    run_dir = tmp_path / "checkpoints" / "resnet18" / "w2a2g6"

    run_cli(["fit", "--config", row, *tiny])
    run_cli(["test", "--config", BASE, "--config", row, *tiny, "--ckpt_path", run_dir / "ckpt" / "last.ckpt",
             "--attack", "fgsm", "--attack.masking_checks", "false"])  # the checks' extra attacks would triple the time

    result = json.loads((run_dir / "results" / "fgsm.json").read_text())
    assert [round(r["eps"] * 255) for r in result["results"]] == [0, 2, 4, 8]
    quantization = result["model_settings"]["quantization"]
    assert [quantization[k] for k in ("weight_bits", "activation_bits", "gradient_bits")] == [2, 2, 6]
    assert "conv1" not in quantization["layers"] and "fc" not in quantization["layers"] and len(quantization["layers"]) == 20
    assert quantization["clipped_activations"] == ["relu"]  # the last activation, into the full-precision fc
    saved = [p.read_text() for p in run_dir.rglob("config.yaml")]
    assert saved and all("weight_bits: 2" in text and "DoReFaResNet18" in text for text in saved)
