"""Run an evaluation callback through a real `Trainer.test` on in-memory data (no CLI, no logger)."""

from pathlib import Path

from lightning.pytorch import Callback, LightningDataModule, Trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from advconf.module import Classifier
from tests.helpers import read_json


class InMemory(LightningDataModule):
    """Test data held in tensors, with the valid input range the evaluations need."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, box: tuple[float, float] | None) -> None:
        super().__init__()
        self.data, self.batch_size, self.input_box = TensorDataset(x, y), batch_size, box

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.data, batch_size=self.batch_size)


def run_test(
    callback: Callback,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    root: Path,
    num_classes: int = 2,
    batch_size: int = 64,
    box: tuple[float, float] | None = (0.0, 1.0),
) -> Classifier:
    module = Classifier(model, num_classes=num_classes)
    trainer = Trainer(
        default_root_dir=root, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, inference_mode=False, accelerator="cpu", devices=1, callbacks=[callback],
    )
    trainer.test(module, datamodule=InMemory(x, y, batch_size, box), verbose=False)
    return module


def results(root: Path, name: str) -> dict:
    return read_json(root / "results" / f"{name}.json")
