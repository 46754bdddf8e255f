"""Helpers shared by the end-to-end tests: a tiny spheres experiment and readers for what runs leave."""

import json
from pathlib import Path

import pytest
import yaml

from advconf.cli import main

REPO = Path(__file__).resolve().parents[1]


def tiny_spheres_config(root: Path, name: str = "tiny", width: int = 32, **data: object) -> Path:
    """A spheres experiment small enough to fit in seconds, writing under ``root/checkpoints/name``."""
    run_dir = root / "checkpoints" / name
    config = yaml.safe_load((REPO / "configs" / "spheres.yaml").read_text())
    config["trainer"].update(
        max_epochs=3, default_root_dir=str(run_dir), enable_progress_bar=False, log_every_n_steps=5
    )
    config["trainer"]["logger"]["init_args"].update(save_dir=str(run_dir), name=name)
    config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(run_dir / "ckpt")
    # One step per Lightning batch, so tests see Lightning's per-batch hooks at every step (the shipped
    # configs' chunks are tested apart: tests/cli/test_end_to_end.py).
    config["model"]["steps_per_chunk"] = 1
    config["model"]["model"]["init_args"]["width"] = width
    config["model"]["optimizer"]["init_args"]["lr"] = 0.01
    config["data"]["init_args"].update({"train_size": 1000, "val_size": 100, "test_size": 200, "batch_size": 50, **data})
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(args: list[str]) -> None:
    main(args=[str(a) for a in args])


def cli_error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI expecting a clean failure; return its one-line error message."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(args)
    assert exit_info.value.code not in (0, None)
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "the CLI failed without a message"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def wandb_tables(run_root: Path, key: str) -> list[dict]:
    """Every ``wandb.Table`` logged under ``key`` by the offline runs in ``run_root/wandb``."""
    return [json.loads(p.read_text()) for p in sorted((run_root / "wandb").glob(f"offline-run-*/files/media/table/{key}/*.table.json"))]
