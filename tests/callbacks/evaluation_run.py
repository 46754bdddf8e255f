"""Run an evaluation callback through a real `Trainer.test` on in-memory data (no CLI, no logger)."""

from pathlib import Path

from lightning.pytorch import Callback, Trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from advconf.module import Classifier
from tests.helpers import read_json


def run_test(callback: Callback, model: nn.Module, x: Tensor, y: Tensor, root: Path, num_classes: int = 2, batch_size: int = 64) -> Classifier:
    module = Classifier(model, num_classes=num_classes)
    trainer = Trainer(
        default_root_dir=root, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, inference_mode=False, accelerator="cpu", devices=1, callbacks=[callback],
    )
    trainer.test(module, dataloaders=DataLoader(TensorDataset(x, y), batch_size=batch_size), verbose=False)
    return module


def results(root: Path, name: str) -> dict:
    return read_json(root / "results" / f"{name}.json")
