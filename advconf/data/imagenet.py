"""ImageNet-style data (paper Table 3): FFCV `.beton` files or a plain ImageFolder tree.

Both backends yield `(x, y)`: x float32 in [0, 1], N x 3 x image_size x image_size (normalisation
lives in the model), y int64. Train: random resized crop + horizontal flip (or the validation
crop when `train_augment` is false); val/test: centre crop of `crop_ratio` of the shorter side.
"""

from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch import LightningDataModule
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from advconf.errors import AdvconfError


class ImageNetDataModule(LightningDataModule):
    """ImageNet (or any ImageFolder-layout image set) for `advconf fit`.

    Args:
        train_path: `train.beton` (ffcv) or the train ImageFolder directory (folder).
        val_path: the same for validation; also used for `test` unless `test_path` is given.
        backend: "ffcv" (fast, needs `pip install advconf[ffcv]`) or "folder" (torchvision only).
        num_classes: number of classes in the data.
        image_size: side of the square images the model sees.
        crop_ratio: val/test keep the centre `crop_ratio` of the shorter side (224/256 as usual).
        batch_size: per process (per GPU).
        num_workers: decoding threads (ffcv) or DataLoader workers (folder), per process.
        channels_last: hand out channels-last tensors (faster convolutions with AMP on GPU).
        train_augment: random resized crop + flip for training; false uses the val crop.
        seed: shuffling seed; all ranks must share it so their shards do not overlap.
        os_cache: ffcv only: read through the OS page cache, shared by the processes of a node.
    """

    input_box = (0.0, 1.0)

    def __init__(
        self,
        train_path: str,
        val_path: str,
        test_path: str | None = None,
        backend: Literal["ffcv", "folder"] = "ffcv",
        num_classes: int = 1000,
        image_size: int = 224,
        crop_ratio: float = 224 / 256,
        batch_size: int = 256,
        num_workers: int = 8,
        channels_last: bool = False,
        train_augment: bool = True,
        seed: int = 0,
        os_cache: bool = True,
    ) -> None:
        super().__init__()
        if not 0 < crop_ratio <= 1:
            raise AdvconfError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
        self.save_hyperparameters()
        self.paths = {"train": Path(train_path), "val": Path(val_path), "test": Path(test_path or val_path)}
        self.backend = backend
        self.num_classes = num_classes
        self.image_size = image_size
        self.crop_ratio = crop_ratio
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.channels_last = channels_last
        self.train_augment = train_augment
        self.seed = seed
        self.os_cache = os_cache
        self.input_shape = (3, image_size, image_size)

    def setup(self, stage: str) -> None:
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"], "predict": ["test"]}[stage]
        for split in splits:
            path = self.paths[split]
            expected = path.is_file() if self.backend == "ffcv" else path.is_dir()
            if not expected:
                kind = "an FFCV .beton file" if self.backend == "ffcv" else "an ImageFolder directory"
                hint = ""
                if not path.exists():
                    hint = "; it does not exist" + (" (write it with `advconf data ffcv`)" if self.backend == "ffcv" else "")
                raise AdvconfError(f"ImageNetDataModule: {split} data {path} is not {kind} (backend: {self.backend}){hint}")

    def train_dataloader(self) -> Any:
        return self._loader("train", augment=self.train_augment)

    def val_dataloader(self) -> Any:
        return self._loader("val", augment=False)

    def test_dataloader(self) -> Any:
        return self._loader("test", augment=False)

    def predict_dataloader(self) -> Any:
        return self.test_dataloader()

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # no-op for ffcv, which hands them out so
        return x, y

    def _loader(self, split: str, augment: bool) -> Any:
        # Called by Lightning after the process group exists, as both ffcv's distributed order and
        # the device to decode onto need it.
        if self.backend == "ffcv":
            return self._ffcv_loader(split, augment)
        return self._folder_loader(split, augment)

    def _ffcv_loader(self, split: str, augment: bool) -> Any:
        try:
            from ffcv.fields.decoders import CenterCropRGBImageDecoder, IntDecoder, RandomResizedCropRGBImageDecoder
            from ffcv.loader import Loader, OrderOption
            from ffcv.transforms import Convert, RandomHorizontalFlip, Squeeze, ToDevice, ToTensor, ToTorchImage
        except ImportError as err:
            raise AdvconfError(
                f"backend: ffcv needs the ffcv package ({err}); run `pip install advconf[ffcv]` or use backend: folder"
            ) from err

        size = (self.image_size, self.image_size)
        if augment:
            image = [RandomResizedCropRGBImageDecoder(size), RandomHorizontalFlip()]
        else:
            image = [CenterCropRGBImageDecoder(size, ratio=self.crop_ratio)]
        image.append(ToTensor())
        label = [IntDecoder(), ToTensor(), Squeeze(1), Convert(torch.int64)]
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if device.type == "cuda":
            # Move uint8 (4x less than float) and convert on the GPU.
            image.append(ToDevice(device, non_blocking=True))
            label.append(ToDevice(device, non_blocking=True))
        image += [ToTorchImage(channels_last=self.channels_last), v2.ToDtype(torch.float32, scale=True)]

        distributed = self.trainer is not None and self.trainer.world_size > 1
        loader = Loader(
            str(self.paths[split]),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            # Not QUASI_RANDOM: it does not support distributed=True.
            order=OrderOption.RANDOM if split == "train" else OrderOption.SEQUENTIAL,
            os_cache=self.os_cache,
            distributed=distributed,
            seed=self.seed,
            drop_last=split == "train",
            pipelines={"image": image, "label": label},
        )
        if self.trainer is not None:
            # The shuffle depends on (seed, epoch): a run resumed from a checkpoint continues the
            # order of the epoch it stopped in instead of starting again from epoch 0's.
            loader.next_epoch = self.trainer.current_epoch
        return loader

    def _folder_loader(self, split: str, augment: bool) -> DataLoader:
        if augment:
            crop = [v2.RandomResizedCrop(self.image_size, antialias=True), v2.RandomHorizontalFlip()]
        else:
            crop = [CentreCrop(self.image_size, self.crop_ratio)]
        transform = v2.Compose([v2.ToImage(), *crop, v2.ToDtype(torch.float32, scale=True)])
        dataset = image_folder(self.paths[split], transform=transform)
        # Lightning adds a DistributedSampler (shuffling with the trainer's seed) under DDP.
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=split == "train",
            drop_last=split == "train",
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.trainer is not None and self.trainer.strategy.root_device.type == "cuda",
        )


def load_rgb(path: str) -> Image.Image:
    """The image at ``path`` as RGB (torchvision's ``ImageFolder`` loader), or an ``AdvconfError``
    naming the file when it cannot be decoded (PIL's messages often do not name it)."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:  # what PIL raises for bad files
        raise AdvconfError(f"image {path} cannot be read: {' '.join(str(error).split())}") from None


def image_folder(root: Path, **kwargs: Any) -> ImageFolder:
    """``ImageFolder(root)`` reading with ``load_rgb``; a tree without images is an ``AdvconfError``."""
    try:
        return ImageFolder(str(root), loader=load_rgb, **kwargs)
    except (FileNotFoundError, NotADirectoryError, PermissionError) as error:  # no class folders, no images...
        raise AdvconfError(f"{root}: {' '.join(str(error).split())}") from None


class CentreCrop(torch.nn.Module):
    """ffcv's centre crop, so both backends see the same pixels: the central square of side
    int(ratio * shorter side), resized to size x size."""

    def __init__(self, size: int, ratio: float) -> None:
        super().__init__()
        self.size = size
        self.ratio = ratio

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = v2.functional.get_size(image)
        side = int(self.ratio * min(height, width))
        top, left = (height - side) // 2, (width - side) // 2
        return v2.functional.resized_crop(image, top, left, side, side, [self.size, self.size], antialias=True)
