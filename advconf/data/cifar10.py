"""CIFAR-10 from the python pickles (`cifar-10-batches-py/`)."""

import pickle
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets

from advconf.data.image import ImageDataModule, Transform

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def random_crop_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per-image random crop from a zero-padded batch, then random horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)
    dy, dx = torch.randint(0, 2 * padding + 1, (2, n)).tolist()
    out = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10, 3 x 32 x 32 images in [0, 1].

    Args:
        data_dir: folder holding `cifar-10-batches-py/` (torchvision's layout), or that folder itself.
        classes: class subset, relabelled 0..k-1 in the order given.
        val_size: validation examples taken from the training split: a count, or a fraction < 1.
        seed: seed of the train/val split.
        augment: random crop (4 px zero padding) and horizontal flip of training images.
        download: fetch missing files with torchvision (needs network; the archive's MD5 is checked).
    """

    image_shape = (3, 32, 32)
    all_class_names = CLASS_NAMES

    def __init__(
        self,
        data_dir: str = "data/cifar10",
        classes: list[int] | None = None,
        val_size: int | float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        augment: bool = False,
        download: bool = False,
    ) -> None:
        super().__init__(data_dir, classes, val_size, seed, batch_size, num_workers, download)
        self.augment = augment

    @property
    def folder(self) -> Path:
        given = self.data_dir
        return given if (given / TRAIN_FILES[0]).is_file() or given.name == FOLDER else given / FOLDER

    def missing_files(self) -> list[str]:
        return [name for name in TRAIN_FILES + TEST_FILES if not (self.folder / name).is_file()]

    def expected_location(self) -> str:
        return str(self.folder)

    def fetch(self, tmp: Path) -> None:
        datasets.CIFAR10(str(tmp / "torchvision"), download=True)
        (tmp / "torchvision" / FOLDER).replace(tmp / FOLDER)
        shutil.rmtree(tmp / "torchvision")

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in TRAIN_FILES if train else TEST_FILES:
            with open(self.folder / name, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
            images.append(torch.as_tensor(batch["data"], dtype=torch.uint8).view(-1, 3, 32, 32))
            labels.append(torch.as_tensor(batch["labels"], dtype=torch.long))
        return torch.cat(images), torch.cat(labels)

    def train_transform(self) -> Transform | None:
        return random_crop_flip if self.augment else None
