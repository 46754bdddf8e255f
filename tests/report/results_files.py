"""Hand-made results files in the schema the evaluation callbacks write (see README, results schema)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from advconf.cli import main
from advconf.results import write_json


def quantization(weight: int, activation: int = 32, gradient: int = 32) -> dict[str, Any]:
    return {"quantization": {"weight_bits": weight, "activation_bits": activation, "gradient_bits": gradient}}


def attack_file(
    run_dir: Path,
    clean: float,
    accuracies: dict[float, float],
    name: str = "fgsm",
    settings: dict[str, Any] | None = None,
    checkpoint: str | None = "ckpt/last.ckpt",
    top5: dict[float | str, float] | None = None,
    clean_extra: dict[str, Any] | None = None,
    row_extra: dict[float, dict[str, Any]] | None = None,
) -> Path:
    """An AttackEvaluation results file; ``top5`` maps eps (or "clean") to top-5 accuracy; ``clean_extra``
    and ``row_extra`` (eps -> keys) add or replace keys of the clean block and of the eps rows."""
    top5, row_extra = top5 or {}, row_extra or {}
    rows = [
        {"eps": eps, "accuracy": acc, "confidence": 0.9, "num_examples": 1000, **({"top5_accuracy": top5[eps]} if eps in top5 else {}),
         **row_extra.get(eps, {})}
        for eps, acc in sorted(accuracies.items())
    ]
    payload = {
        "name": name,
        "attack": {"class_path": "advconf.attacks.fgsm.FGSM", "params": {"norm": "linf"}},
        "eps": sorted(accuracies),
        "num_examples": 1000,
        "clean": {"accuracy": clean, "confidence": 0.95, **({"top5_accuracy": top5["clean"]} if "clean" in top5 else {}), **(clean_extra or {})},
        "results": rows,
        "checkpoint": checkpoint,
        "model_settings": settings or {},
        "gradient_quantization_during_attack": False,
        "skip_decided": True,
        "box": [0.0, 1.0],
        "created": "2026-01-01T00:00:00+00:00",
    }
    path = run_dir / "results" / f"{name}.json"
    write_json(path, payload)
    return path


def offset_file(run_dir: Path, added: list[float], subtracted: list[float], offsets: list[float]) -> Path:
    def rows(accuracies: list[float]) -> list[dict[str, Any]]:
        return [{"offset": c, "accuracy": a, "confidence": 0.8, "num_examples": 100} for c, a in zip(offsets, accuracies)]

    payload = {
        "name": "offset",
        "offsets": offsets,
        "num_examples": 100,
        "clean": {"accuracy": added[0], "confidence": 0.8},
        "results": {"added": rows(added), "subtracted": rows(subtracted)},
        "checkpoint": "ckpt/last.ckpt",
        "model_settings": {},
    }
    path = run_dir / "results" / "offset.json"
    write_json(path, payload)
    return path


def fooling_file(run_dir: Path, confidences: dict[str, list[float]], auroc: float = 0.75, name: str = "fooling") -> Path:
    """A NonExampleEvaluation results file: ``confidences`` maps class name -> one value per non-example."""
    examples = [
        {"target": t, "class_name": name, "target_probability": c, "confidence": c, "prediction": t, "hit": True}
        for t, (name, values) in enumerate(confidences.items())
        for c in values
    ]
    all_values = [c for values in confidences.values() for c in values]
    payload = {
        "name": name,
        "attack": {"class_path": "advconf.attacks.fooling.NonExampleAscent", "params": {"steps": 100}},
        "num_classes": len(confidences),
        "mean_confidence": sum(all_values) / len(all_values),
        "hit_rate": 1.0,
        "clean": {"confidence": 0.9, "num_examples": 100},
        "detection_auroc": auroc,
        "non_examples": examples,
        "checkpoint": "ckpt/last.ckpt",
        "model_settings": {},
    }
    path = run_dir / "results" / f"{name}.json"
    write_json(path, payload)
    return path


def fit_config(run_dir: Path, callbacks: tuple[str, ...] = (), expert_init: bool | None = None) -> None:
    """The ``config.yaml`` a fit leaves: the report reads the model and the callbacks from it."""
    init_args = {} if expert_init is None else {"expert_init": expert_init}
    config = {
        "trainer": {"callbacks": [{"class_path": c} for c in callbacks]},
        "model": {"model": {"class_path": "advconf.models.LogisticRegression", "init_args": init_args}},
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def report(args: list[object]) -> int:
    """``advconf report ARGS`` in-process; its exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(args=["report", *map(str, args)])
    return exit_info.value.code


def markdown_rows(report_md: str, section: str, first_cell: str) -> list[list[str]]:
    """The cells of every table row starting with ``first_cell`` in the section titled ``## section...``."""
    text = next(part for part in report_md.split("\n## ") if part.startswith(section))
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if row[0] == first_cell]
