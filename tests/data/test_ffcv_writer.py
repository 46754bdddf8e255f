"""`advconf data ffcv`: ImageFolder trees to .beton files."""

import faulthandler
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from torchvision.datasets import ImageFolder

from advconf.data import ffcv_writer
from advconf.data.commands import main
from advconf.data.ffcv_writer import write_splits
from advconf.data.imagenet import load_rgb
from advconf.errors import AdvconfError
from tests.conftest import require
from tests.data.jpeg_folder import HAVE_FFCV, make_jpeg_folder
from tests.helpers import REPO


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


@pytest.fixture
def ends_within_a_minute():
    """ffcv's writer used to hang forever on a failing worker: end the test process instead of CI."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def out_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("damage, reason", [
    (lambda raw: raw[:200], "Truncated File Read"),
    (lambda raw: b"<html>not found</html>", "cannot identify image file"),
])
def test_the_command_refuses_an_unreadable_image_with_one_line_naming_it(tmp_path, damage, reason):
    src = make_jpeg_folder(tmp_path / "src", {"val": 3})
    bad = src / "val" / "class1" / "1.jpg"
    bad.write_bytes(damage(bad.read_bytes()))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "advconf", "data", "ffcv", "--src", src, "--out", out, "--num-workers", "2"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"advconf: error: {out / 'val.beton'} not written: image {bad} cannot be read: ") and reason in last
    assert out_files(out) == []  # no .partial file


def test_an_encoding_process_that_dies_ends_the_write(tmp_path, monkeypatch, ends_within_a_minute):
    src = make_jpeg_folder(tmp_path / "src", {"val": 3})

    def killed_on_one_image(root):  # what the OOM killer does to a worker
        def load(path):
            if path.endswith("class2/0.jpg"):
                os.kill(os.getpid(), signal.SIGKILL)
            return load_rgb(path)
        return ImageFolder(str(root), loader=load)

    monkeypatch.setattr(ffcv_writer, "image_folder", killed_on_one_image)
    with pytest.raises(AdvconfError, match=r"val.beton not written: an encoding process died \(exit status -9\)"):
        write_splits(src, tmp_path / "out", num_workers=2)
    assert out_files(tmp_path / "out") == []


def test_a_full_disk_ends_the_write_with_the_reason_and_leaves_no_file(tmp_path, ends_within_a_minute):
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "mounting a small tmpfs needs root")
    src = make_jpeg_folder(tmp_path / "src", {"val": 3})
    out = tmp_path / "small"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", out], check=True)  # a .beton needs 8 MiB pages
    try:
        with pytest.raises(AdvconfError, match=r"val.beton not written: OSError: \[Errno 28\] No space left on device"):
            write_splits(src, out, num_workers=2)
        assert out_files(out) == []
    finally:
        subprocess.run(["umount", out], check=True)


def test_a_beton_file_follows_the_umask(tmp_path):
    src = make_jpeg_folder(tmp_path / "src", {"val": 1})
    old = os.umask(0o002)
    try:
        write_splits(src, tmp_path / "out", num_workers=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out" / "val.beton").stat().st_mode) == 0o664
