"""What the image data modules share: in-memory uint8 datasets, class subsets, a seeded
train/val split, and downloads that never leave a half-written data directory."""

import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from advconf.atomic import create_temporary_directory
from advconf.data.resumable import InMemoryLoader, ResumableLoader, in_memory_loader, training_device
from advconf.errors import AdvconfError

Transform = Callable[[torch.Tensor], torch.Tensor]


class ImageTensorDataset(Dataset):
    """uint8 images (N, C, H, W) served as float [0, 1] (or images already converted, see `as_float`).
    Fetches whole batches at once (`__getitems__`) so a DataLoader epoch costs a few tensor ops
    instead of N Python calls."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Transform | None = None) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def as_float(self, device: torch.device) -> "ImageTensorDataset":
        """The same dataset with its images converted to float [0, 1] once, and on ``device`` (four
        times the memory of uint8; each batch is then a plain gather)."""
        return ImageTensorDataset(self.images.to(device).float().div_(255), self.labels.to(device), self.transform)

    def __getitems__(self, indices: list[int] | torch.Tensor) -> list[torch.Tensor]:
        index = torch.as_tensor(indices)
        x = self.images.index_select(0, index)  # a few times faster than self.images[index]
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        if self.transform is not None:
            x = self.transform(x)
        return [x, self.labels.index_select(0, index)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


def _batch_is_ready(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """collate_fn: `__getitems__` already returns the stacked batch (a module-level function, so
    DataLoader workers can pickle it)."""
    return batch


class ImageDataModule(LightningDataModule):
    """Base for the image data modules; subclasses say which files exist and how to read them.

    Inputs are float tensors in [0, 1] (`input_box`); batches are lists `[x, y]`.
    """

    input_box = (0.0, 1.0)
    all_class_names: list[str] = []
    image_shape: tuple[int, int, int] = (0, 0, 0)

    def __init__(
        self,
        data_dir: str,
        classes: list[int] | None,
        val_size: int | float,
        seed: int,
        batch_size: int,
        num_workers: int,
        download: bool,
    ) -> None:
        super().__init__()
        total = len(self.all_class_names)
        if classes is not None:
            bad = [c for c in classes if not 0 <= c < total]
            if bad:
                raise AdvconfError(f"class indices {bad} are out of range: {type(self).__name__} has classes 0..{total - 1}")
            if len(classes) < 2 or len(set(classes)) != len(classes):
                raise AdvconfError(f"classes must list at least two different class indices, got {classes}")
        if isinstance(val_size, float) and not 0 <= val_size < 1 or val_size < 0:
            raise AdvconfError(f"val_size must be a count >= 0 or a fraction in [0, 1), got {val_size}")
        self.data_dir = Path(data_dir).expanduser()
        self.classes = list(classes) if classes is not None else list(range(total))
        self.val_size = val_size
        self.seed = seed
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.download = download
        self.num_classes = len(self.classes)
        self.class_names = [self.all_class_names[c] for c in self.classes]
        self.input_shape = self.image_shape

    # --- what subclasses provide -------------------------------------------------------------------

    def missing_files(self) -> list[str]:
        """Names of the expected files that are not in place (empty when ready)."""
        raise NotImplementedError

    def expected_location(self) -> str:
        """Where a person should put the files, for error messages."""
        raise NotImplementedError

    def fetch(self, tmp: Path) -> None:
        """Download into the empty folder `tmp` so that moving its content to data_dir completes the set."""
        raise NotImplementedError

    def load(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8, N x C x H x W) and labels (int64) of the train or test split."""
        raise NotImplementedError

    def train_transform(self) -> Transform | None:
        return None

    # --- Lightning hooks ---------------------------------------------------------------------------

    def prepare_data(self) -> None:
        if self.missing_files() and self.download:
            self._download()
        self._require_files()

    def setup(self, stage: str) -> None:
        self._require_files()
        if stage in ("fit", "validate") and not hasattr(self, "train_set"):
            images, labels = self._subset(*self.load(train=True))
            train_idx, val_idx = self._split(len(labels))
            self.train_set = ImageTensorDataset(images[train_idx], labels[train_idx], self.train_transform())
            self.val_set = ImageTensorDataset(images[val_idx], labels[val_idx])
        if stage in ("test", "predict") and not hasattr(self, "test_set"):
            self.test_set = ImageTensorDataset(*self._subset(*self.load(train=False)))

    def train_dataloader(self) -> DataLoader | InMemoryLoader:
        if self.num_workers == 0:  # the split is in memory: batches straight from its tensors
            train = self.train_set.as_float(training_device(self))
            return in_memory_loader(self, train.__getitems__, len(train))
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        # An empty list tells Lightning there is no validation (val_size=0).
        return self._loader(self.val_set, shuffle=False) if len(self.val_set) else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    # --- helpers -----------------------------------------------------------------------------------

    def _loader(self, dataset: ImageTensorDataset, shuffle: bool) -> DataLoader:
        options = dict(num_workers=self.num_workers, collate_fn=_batch_is_ready, persistent_workers=self.num_workers > 0)
        if shuffle:  # an order that a mid-epoch checkpoint resumes exactly
            # shuffle=True tells Lightning to make its DDP sampler shuffle too
            return ResumableLoader(dataset, batch_size=self.batch_size, seed=self.seed, shuffle=True, **options)
        return DataLoader(dataset, batch_size=self.batch_size, **options)

    def _subset(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep `classes` and relabel them 0..k-1 in the order given."""
        relabel = torch.full((len(self.all_class_names),), -1, dtype=torch.long)
        relabel[self.classes] = torch.arange(len(self.classes))
        new = relabel[labels]
        keep = new >= 0
        return images[keep], new[keep]

    def _split(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        n_val = round(self.val_size * n) if isinstance(self.val_size, float) else self.val_size
        if n_val >= n:
            raise AdvconfError(f"val_size={self.val_size} leaves no training data out of {n} examples")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))
        return order[n_val:], order[:n_val]

    def _require_files(self) -> None:
        missing = self.missing_files()
        if missing:
            how = "" if self.download else ", or set download: true"
            raise AdvconfError(
                f"{type(self).__name__}: missing {', '.join(missing)}; put them in {self.expected_location()}{how}"
            )

    def _download(self) -> None:
        """Fetch into a temporary sibling folder, then move finished files into place: an
        interrupted or failed download leaves data_dir as it was."""
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = create_temporary_directory(self.data_dir)
        try:
            try:
                self.fetch(tmp)
            except Exception as err:  # network errors come in many types (URLError, RuntimeError, OSError)
                raise AdvconfError(
                    f"{type(self).__name__}: download failed ({err}); put {', '.join(self.missing_files())} "
                    f"in {self.expected_location()} by hand"
                ) from err
            if self.data_dir.exists():
                _move_into(tmp, self.data_dir)
            else:
                tmp.rename(self.data_dir)  # atomic: the folder appears complete or not at all
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _move_into(src: Path, dst: Path) -> None:
    """Move src's content into the existing folder dst, file by file (each rename is atomic)."""
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir() and target.is_dir():
            _move_into(item, target)
        else:
            item.replace(target)
