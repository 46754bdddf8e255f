"""ImageNetDataModule: the ffcv and ImageFolder backends hand out the same pixel-space batches."""

from pathlib import Path
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from advconf.data.ffcv_writer import write_beton
from advconf.data.imagenet import ImageNetDataModule
from advconf.errors import AdvconfError
from advconf.module import Classifier
from tests.conftest import require
from tests.data.jpeg_folder import HAVE_FFCV, collect_ffcv_garbage, make_jpeg_folder  # noqa: F401 (autouse fixture)

# numba's dispatcher finalizer races with ffcv's compile threads at garbage collection (a KeyError it
# prints and ignores); harmless, so keep it out of the test report.
pytestmark = pytest.mark.filterwarnings("ignore:Exception ignored in. <finalize object:pytest.PytestUnraisableExceptionWarning")

SQUARE_64 = ((64, 80), (80, 64), (64, 64))  # shorter side 64: a 0.5 centre crop to 32 needs no resizing


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jpeg_folder(tmp_path_factory.mktemp("imagenet"), {"train": 6, "val": 3}, sizes=SQUARE_64)


def needs_ffcv() -> None:
    require(HAVE_FFCV, "ffcv is not installed (pip install advconf[ffcv]; needs libturbojpeg0-dev libopencv-dev pkg-config)")


def beton(images: Path, split: str, write_mode: str) -> Path:
    needs_ffcv()
    path = images / f"{split}-{write_mode}.beton"
    if not path.exists():
        write_beton(images / split, path, max_resolution=None, num_workers=1, write_mode=write_mode)
    return path


def data(path: Path, backend: str, **kwargs) -> ImageNetDataModule:
    kwargs = {"num_classes": 3, "image_size": 32, "crop_ratio": 0.5, "batch_size": 4, "num_workers": 1} | kwargs
    module = ImageNetDataModule(str(path), str(path), backend=backend, **kwargs)
    module.setup("fit")
    return module


def one_batch(module: ImageNetDataModule, val: bool = True, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    module.batch_size = size
    x, y = next(iter(module.val_dataloader() if val else module.train_dataloader()))
    return module.on_after_batch_transfer((x, y), 0)


def test_ffcv_and_folder_val_batches_are_equal_for_raw_stored_pixels(images: Path) -> None:
    x_ffcv, y_ffcv = one_batch(data(beton(images, "val", "raw"), "ffcv"))
    x_folder, y_folder = one_batch(data(images / "val", "folder"))

    assert torch.equal(y_ffcv, y_folder)
    assert torch.equal(x_ffcv, x_folder)


def test_ffcv_and_folder_val_batches_differ_only_by_jpeg_recompression_and_resampling(images: Path) -> None:
    kwargs = {"image_size": 48, "crop_ratio": 224 / 256}
    x_ffcv, y_ffcv = one_batch(data(beton(images, "val", "jpg"), "ffcv", **kwargs))
    x_folder, y_folder = one_batch(data(images / "val", "folder", **kwargs))

    assert torch.equal(y_ffcv, y_folder)
    difference = (x_ffcv - x_folder).abs()
    assert difference.mean() < 3 / 255
    assert difference.max() < 40 / 255


@pytest.mark.parametrize("backend", ["ffcv", "folder"])
def test_train_batches_are_float_pixels_in_the_unit_box_nchw_with_int64_labels(images: Path, backend: str) -> None:
    path = beton(images, "train", "jpg") if backend == "ffcv" else images / "train"
    module = data(path, backend)

    batches = list(module.train_dataloader())

    assert len(batches) == 18 // 4  # incomplete last batch dropped
    x, y = batches[0]
    assert x.dtype == torch.float32 and x.shape == (4, *module.input_shape) == (4, 3, 32, 32)
    assert module.input_box[0] <= x.min() and x.max() <= module.input_box[1]
    assert y.dtype == torch.int64 and y.shape == (4,) and set(y.tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("backend", ["ffcv", "folder"])
def test_channels_last_option_hands_out_channels_last_batches(images: Path, backend: str) -> None:
    path = beton(images, "val", "jpg") if backend == "ffcv" else images / "val"

    x, _ = one_batch(data(path, backend, channels_last=True), size=2)

    assert x.is_contiguous(memory_format=torch.channels_last)


def test_missing_beton_file_names_the_path_and_backend(tmp_path: Path) -> None:
    module = ImageNetDataModule(str(tmp_path / "train.beton"), str(tmp_path / "val.beton"), backend="ffcv")

    with pytest.raises(AdvconfError, match=r"train data .*train\.beton is not an FFCV \.beton file"):
        module.setup("fit")


def test_classifier_trains_and_validates_through_the_ffcv_backend(images: Path, tmp_path: Path) -> None:
    module = ImageNetDataModule(
        str(beton(images, "train", "jpg")), str(beton(images, "val", "jpg")),
        backend="ffcv", num_classes=3, image_size=32, batch_size=4, num_workers=1,
    )
    model = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3)))
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, default_root_dir=tmp_path,
    )

    trainer.fit(model, datamodule=module)

    assert trainer.global_step == 2 * (18 // 4)
    assert 0 <= trainer.callback_metrics["val/acc"] <= 1


def test_ffcv_training_order_continues_from_the_trainers_epoch_after_a_resume(images: Path) -> None:
    path = beton(images, "train", "jpg")
    fresh, resumed = data(path, "ffcv", train_augment=False), data(path, "ffcv", train_augment=False)
    resumed.trainer = SimpleNamespace(current_epoch=2, world_size=1, strategy=SimpleNamespace(root_device=torch.device("cpu")))

    fresh_loader = fresh.train_dataloader()
    epochs = [torch.cat([y for _, y in fresh_loader]) for _ in range(3)]
    after_resume = torch.cat([y for _, y in resumed.train_dataloader()])

    assert not torch.equal(epochs[0], epochs[2])
    assert torch.equal(after_resume, epochs[2])


def test_folder_backend_names_an_image_it_cannot_read(tmp_path: Path) -> None:
    src = make_jpeg_folder(tmp_path, {"val": 2}, sizes=SQUARE_64)
    bad = src / "val" / "class0" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    module = data(src / "val", "folder", num_workers=0)
    with pytest.raises(AdvconfError, match=f"^image {bad} cannot be read: "):
        next(iter(module.val_dataloader()))


def test_folder_backend_refuses_a_directory_without_images(tmp_path: Path) -> None:
    (tmp_path / "val" / "class0").mkdir(parents=True)
    module = data(tmp_path / "val", "folder")
    with pytest.raises(AdvconfError, match=f"^{tmp_path / 'val'}: Found no valid file for the classes class0"):
        module.val_dataloader()
