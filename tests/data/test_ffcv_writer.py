"""`advconf data ffcv`: ImageFolder trees to .beton files."""

from pathlib import Path

import numpy as np
import pytest

from advconf.data.commands import main
from advconf.errors import AdvconfError
from tests.conftest import require
from tests.data.jpeg_folder import HAVE_FFCV, make_jpeg_folder


@pytest.fixture(autouse=True)
def _needs_ffcv() -> None:
    require(HAVE_FFCV, "ffcv is not installed (pip install advconf[ffcv]; needs libturbojpeg0-dev libopencv-dev pkg-config)")


def read_beton(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(heights and widths, labels) of every stored image."""
    from ffcv.reader import Reader

    reader = Reader(str(path))
    image, label = reader.metadata["f0"], reader.metadata["f1"]
    return np.stack([image["height"], image["width"]], axis=1), label


def test_writes_train_and_val_betons_with_every_image_and_its_class(tmp_path: Path) -> None:
    src = make_jpeg_folder(tmp_path / "src", {"train": 4, "val": 2})
    out = tmp_path / "out"

    assert main(["ffcv", "--src", str(src), "--out", str(out), "--num-workers", "2"]) == 0

    _, train_labels = read_beton(out / "train.beton")
    _, val_labels = read_beton(out / "val.beton")
    assert sorted(train_labels.tolist()) == [0] * 4 + [1] * 4 + [2] * 4
    assert sorted(val_labels.tolist()) == [0] * 2 + [1] * 2 + [2] * 2
    assert sorted(p.name for p in out.iterdir()) == ["train.beton", "val.beton"]  # no partial files left


def test_max_resolution_shrinks_the_longer_side_and_keeps_small_images(tmp_path: Path) -> None:
    src = make_jpeg_folder(tmp_path / "src", {"val": 3}, sizes=((64, 80), (30, 20), (72, 72)))

    main(["ffcv", "--src", str(src), "--out", str(tmp_path), "--max-resolution", "40", "--num-workers", "1"])

    shapes, _ = read_beton(tmp_path / "val.beton")
    assert {tuple(s) for s in shapes.tolist()} == {(32, 40), (30, 20), (40, 40)}


def test_different_class_folders_in_train_and_val_are_refused(tmp_path: Path) -> None:
    src = make_jpeg_folder(tmp_path / "src", {"train": 1}, num_classes=3)
    make_jpeg_folder(src, {"val": 1}, num_classes=2)

    with pytest.raises(AdvconfError, match="same class folders.*class2"):
        main(["ffcv", "--src", str(src), "--out", str(tmp_path / "out")])


def test_a_source_without_train_or_val_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdvconfError, match="neither a train/ nor a val/"):
        main(["ffcv", "--src", str(tmp_path), "--out", str(tmp_path / "out")])
