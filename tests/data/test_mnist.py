import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from advconf.data import MNISTDataModule
from advconf.errors import AdvconfError
from tests.data.formats import MNIST_NAMES, idx_bytes, write_mnist
from tests.helpers import REPO, cli_error


def test_real_fashion_mnist_yields_unit_range_images_and_relabelled_subset(fashion_mnist_dir):
    dm = MNISTDataModule("fashion_mnist", str(fashion_mnist_dir), classes=[7, 5], val_size=1000, batch_size=256)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (11000, 1000, 2000)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (256, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
    assert set(y.tolist()) == {0, 1}
    assert dm.class_names == ["Sneaker", "Sandal"] and dm.num_classes == 2
    assert dm.input_shape == (1, 28, 28) and dm.input_box == (0.0, 1.0)


def test_val_split_is_deterministic_for_a_seed_and_differs_across_seeds(tmp_path):
    write_mnist(tmp_path)

    def val_images(seed):
        dm = MNISTDataModule("mnist", str(tmp_path), val_size=0.25, seed=seed)
        dm.setup("fit")
        assert (len(dm.train_set), len(dm.val_set)) == (150, 50)
        return dm.val_set.images

    assert torch.equal(val_images(1), val_images(1))
    assert not torch.equal(val_images(1), val_images(2))


@pytest.mark.parametrize("gz", [True, False])
def test_generated_idx_files_load_with_labels_relabelled_in_the_given_order(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    dm = MNISTDataModule("mnist", str(tmp_path), classes=[7, 3], val_size=0)
    dm.setup("fit")
    dm.setup("test")
    original = arrays["test"][1]
    x, y = next(iter(dm.test_dataloader()))
    original_label = (x[:, 0, 0, 0] * 255).round().long()  # writer stores the label in pixel (0, 0)
    assert torch.equal(y, (original_label == 3).long())
    assert len(dm.test_set) == int(((original == 3) | (original == 7)).sum())
    assert dm.val_dataloader() == []  # val_size=0: no validation loop


def test_torchvision_raw_layout_is_found(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    dm = MNISTDataModule("fashion_mnist", str(tmp_path))
    dm.prepare_data()


def test_missing_files_error_names_each_file_and_the_folder(tmp_path):
    dm = MNISTDataModule("mnist", str(tmp_path / "nowhere"))
    with pytest.raises(AdvconfError) as err:
        dm.prepare_data()
    message = str(err.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert str(tmp_path / "nowhere") in message and "download: true" in message


def test_failed_download_leaves_no_data_directory_behind(tmp_path, monkeypatch):
    def write_part_then_fail(self):
        raw = Path(self.raw_folder)
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b")
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: network unreachable")

    monkeypatch.setattr(datasets.MNIST, "download", write_part_then_fail)
    dm = MNISTDataModule("mnist", str(tmp_path / "mnist"), download=True)
    with pytest.raises(AdvconfError, match="download failed.*network unreachable.*by hand"):
        dm.prepare_data()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_successful_download_moves_complete_files_into_place(tmp_path, monkeypatch, umask):
    def fake_download(self):  # torchvision keeps the .gz archives beside the extracted files
        write_mnist(Path(self.raw_folder), n_train=20, n_test=10, gz=True)
        write_mnist(Path(self.raw_folder), n_train=20, n_test=10, gz=False)

    monkeypatch.setattr(datasets.MNIST, "download", fake_download)
    dm = MNISTDataModule("mnist", str(tmp_path / "mnist"), download=True, val_size=0)
    previous = os.umask(umask)
    try:
        dm.prepare_data()
    finally:
        os.umask(previous)
    assert (tmp_path / "mnist").stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir would make it: a group can share it
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    assert list(tmp_path.iterdir()) == [tmp_path / "mnist"]
    dm.setup("fit")
    assert len(dm.train_set) == 20


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "kmnist"}, "unknown dataset 'kmnist'"),
        ({"classes": [3, 10]}, r"class indices \[10\] are out of range"),
        ({"classes": [3]}, "at least two"),
        ({"classes": [3, 3]}, "at least two"),
        ({"val_size": 1.0}, "val_size"),
        ({"val_size": -1}, "val_size"),
    ],
)
def test_bad_options_are_refused_at_construction(kwargs, message):
    with pytest.raises(AdvconfError, match=message):
        MNISTDataModule(**{"data_dir": "unused", **kwargs})


def test_val_size_as_large_as_the_training_set_is_refused(tmp_path):
    write_mnist(tmp_path, n_train=30)
    with pytest.raises(AdvconfError, match="no training data"):
        MNISTDataModule("mnist", str(tmp_path), val_size=30).setup("fit")


# A damaged copy of one file (bytes -> bytes), and what the error says about it.
DAMAGE = {
    "truncated": (lambda raw: raw[:-10], "is truncated: the header says 200 x 28 x 28 bytes, found 156790"),
    "too long": (lambda raw: raw + b"\0", "is too long: the header says 200 x 28 x 28 bytes, found 156801"),
    "cut in the header": (lambda raw: raw[:6], "is truncated: 6 bytes, less than its 16-byte header"),
    "not IDX": (lambda raw: b"PK\x03\x04" + raw[4:], "is not an unsigned-byte IDX file (it starts with bytes 504b0304)"),
    "empty": (lambda raw: b"", "is not an unsigned-byte IDX file (it starts with bytes none)"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_idx_file_is_refused_with_its_name_and_what_is_wrong(tmp_path, damage):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    change, message = DAMAGE[damage]
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(AdvconfError) as error:
        MNISTDataModule("mnist", str(tmp_path)).setup("fit")
    assert str(error.value) == f"{path} {message}"


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw[: len(raw) // 2], "cannot be read: Compressed file ended before the end-of-stream marker was reached"),
    (lambda raw: b"\x1f\x8b" + bytes(len(raw) - 2), "cannot be read: Unknown compression method"),
    (lambda raw: b"plain text", "cannot be read: Not a gzipped file (b'pl')"),
])
def test_damaged_gzip_file_is_refused_with_its_name(tmp_path, change, message):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(AdvconfError) as error:
        MNISTDataModule("mnist", str(tmp_path)).setup("test")
    assert str(error.value) == f"{path} {message}"


@pytest.mark.parametrize("split, arrays, message", [
    ("train", (np.zeros((200, 28, 27)), np.zeros(200)), "train-images-idx3-ubyte holds an array of shape (200, 28, 27), not N x 28 x 28 images"),
    ("test", (np.zeros((50, 28, 28)), np.zeros(49)), "t10k-labels-idx1-ubyte holds an array of shape (49,), not 50 labels for"),
    ("test", (np.zeros((50, 28, 28)), np.full(50, 12)), "t10k-labels-idx1-ubyte has label 12; mnist has classes 0..9"),
])
def test_idx_files_that_do_not_match_are_refused(tmp_path, split, arrays, message):
    write_mnist(tmp_path, gz=False)
    for name, array in zip(MNIST_NAMES[split], arrays):
        (tmp_path / name).write_bytes(idx_bytes(array))
    with pytest.raises(AdvconfError, match=re.escape(message)):
        MNISTDataModule("mnist", str(tmp_path)).setup("fit" if split == "train" else "test")


def test_fit_on_a_damaged_file_ends_with_one_line_naming_it(tmp_path, capsys):
    write_mnist(tmp_path / "data", gz=True)
    path = tmp_path / "data" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    args = ["fit", "--config", REPO / "configs" / "fashion_logreg.yaml", "--data.init_args.dataset", "mnist",
            "--data.init_args.data_dir", tmp_path / "data", "--data.init_args.val_size", "10",
            "--trainer.default_root_dir", tmp_path / "run", "--trainer.logger", "false"]
    assert cli_error(args, capsys) == f"advconf: error: {path} cannot be read: Compressed file ended before the end-of-stream marker was reached"
