"""MNIST and Fashion-MNIST from their IDX files (plain or gzipped)."""

import gzip
import math
import shutil
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torchvision import datasets

from advconf.data.image import ImageDataModule
from advconf.errors import AdvconfError

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
TORCHVISION = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}


def read_idx(path: Path) -> torch.Tensor:
    """An unsigned-byte IDX array (the MNIST file format); gzip is detected from the name.

    A damaged file is refused with an ``AdvconfError`` that names it and says what is wrong.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:  # a bad gzip stream is an OSError, a cut one an EOFError
        raise AdvconfError(f"{path} cannot be read: {error}") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise AdvconfError(f"{path} is not an unsigned-byte IDX file (it starts with bytes {raw[:4].hex() or 'none'})")
    ndim = raw[3]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise AdvconfError(f"{path} is truncated: {len(raw)} bytes, less than its {start}-byte header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected, found = math.prod(shape), len(raw) - start
    if found != expected:
        problem = "truncated" if found < expected else "too long"
        raise AdvconfError(f"{path} is {problem}: the header says {' x '.join(map(str, shape))} bytes, found {found}")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(shape).copy())


class MNISTDataModule(ImageDataModule):
    """MNIST or Fashion-MNIST, 1 x 28 x 28 images in [0, 1].

    Args:
        dataset: "mnist" or "fashion_mnist".
        data_dir: folder holding the four IDX files (plain or .gz), e.g. Debian's read-only
            /usr/share/datasets/fashion-mnist; torchvision's `<data_dir>/MNIST/raw` layout also works.
        classes: class subset, relabelled 0..k-1 in the order given ([3, 7]: 3 -> 0, 7 -> 1).
        val_size: validation examples taken from the training split: a count, or a fraction < 1.
        seed: seed of the train/val split.
        download: fetch missing files with torchvision (needs network).
    """

    image_shape = (1, 28, 28)

    def __init__(
        self,
        dataset: Literal["mnist", "fashion_mnist"] = "mnist",
        data_dir: str = "data/mnist",
        classes: list[int] | None = None,
        val_size: int | float = 0.1,
        seed: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        download: bool = False,
    ) -> None:
        if dataset not in TORCHVISION:
            raise AdvconfError(f"unknown dataset {dataset!r}: choose one of {', '.join(TORCHVISION)}")
        self.dataset = dataset
        self.all_class_names = list(TORCHVISION[dataset].classes)
        super().__init__(data_dir, classes, val_size, seed, batch_size, num_workers, download)

    def _find(self, name: str) -> Path | None:
        folders = [self.data_dir, self.data_dir / TORCHVISION[self.dataset].__name__ / "raw"]
        for candidate in (folder / (name + ext) for folder in folders for ext in ("", ".gz")):
            if candidate.is_file():
                return candidate
        return None

    def missing_files(self) -> list[str]:
        return [name + ".gz" for names in FILES.values() for name in names if self._find(name) is None]

    def expected_location(self) -> str:
        return f"{self.data_dir} (plain or .gz)"

    def fetch(self, tmp: Path) -> None:
        raw = Path(TORCHVISION[self.dataset](str(tmp / "torchvision"), download=True).raw_folder)
        for names in FILES.values():
            for name in names:
                (raw / (name + ".gz")).replace(tmp / (name + ".gz"))
        shutil.rmtree(tmp / "torchvision")

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        image_file, label_file = (self._find(name) for name in FILES[train])
        images, labels = read_idx(image_file), read_idx(label_file).long()
        if images.dim() != 3 or tuple(images.shape[1:]) != self.image_shape[1:]:
            raise AdvconfError(f"{image_file} holds an array of shape {tuple(images.shape)}, not N x 28 x 28 images")
        if labels.shape != (len(images),):
            raise AdvconfError(f"{label_file} holds an array of shape {tuple(labels.shape)}, not {len(images)} labels for {image_file}")
        if len(labels) and labels.max() >= len(self.all_class_names):
            raise AdvconfError(f"{label_file} has label {labels.max().item()}; {self.dataset} has classes 0..{len(self.all_class_names) - 1}")
        return images.unsqueeze(1), labels
