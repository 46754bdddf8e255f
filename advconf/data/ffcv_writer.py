"""Write FFCV `.beton` files from ImageFolder-layout directories (`SRC/train/<class>/*.jpg`, `SRC/val/...`)."""

import os
from pathlib import Path
from typing import Literal

from torchvision.datasets import ImageFolder

from advconf.errors import AdvconfError

WriteMode = Literal["raw", "jpg", "smart", "proportion"]
SPLITS = ("train", "val")


def write_beton(
    src: Path,
    out: Path,
    max_resolution: int | None = 256,
    jpeg_quality: int = 90,
    num_workers: int = -1,
    write_mode: WriteMode = "jpg",
) -> int:
    """Write one ImageFolder directory to the `.beton` file `out`; returns the number of images.

    Images are shrunk so their longer side is at most `max_resolution` (None keeps them as they
    are) and stored as JPEG of `jpeg_quality` ("jpg"), raw pixels ("raw"), or a mix (see ffcv's
    RGBImageField). ffcv shows a progress bar. The file appears only when complete.
    """
    try:
        from ffcv.fields import IntField, RGBImageField
        from ffcv.writer import DatasetWriter
    except ImportError as err:
        raise AdvconfError(f"writing .beton files needs the ffcv package ({err}); run `pip install advconf[ffcv]`") from err

    dataset = ImageFolder(str(src))  # PIL images, converted to RGB; labels = sorted class folder index
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    image = RGBImageField(write_mode=write_mode, max_resolution=max_resolution, jpeg_quality=jpeg_quality)
    DatasetWriter(str(partial), {"image": image, "label": IntField()}, num_workers=num_workers).from_indexed_dataset(dataset)
    os.replace(partial, out)
    return len(dataset)


def write_splits(
    src: Path,
    out: Path,
    max_resolution: int | None = 256,
    jpeg_quality: int = 90,
    num_workers: int = -1,
    write_mode: WriteMode = "jpg",
) -> dict[str, int]:
    """Write `out/train.beton` and `out/val.beton` from `src/train` and `src/val` (whichever exist)."""
    splits = [s for s in SPLITS if (src / s).is_dir()]
    if not splits:
        raise AdvconfError(f"{src} has neither a train/ nor a val/ directory (ImageFolder layout: {src}/train/<class>/*.jpg)")
    classes = {s: sorted(p.name for p in (src / s).iterdir() if p.is_dir()) for s in splits}
    if len(splits) == 2 and classes["train"] != classes["val"]:
        # ImageFolder numbers classes by sorted folder name: different sets would mislabel val.
        only = set(classes["train"]) ^ set(classes["val"])
        raise AdvconfError(f"{src}/train and {src}/val must have the same class folders; only in one: {sorted(only)[:10]}")
    return {
        s: write_beton(src / s, out / f"{s}.beton", max_resolution, jpeg_quality, num_workers, write_mode)
        for s in splits
    }
