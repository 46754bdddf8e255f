from pathlib import Path

import pytest
import torch
from torchvision import datasets

from advconf.data import MNISTDataModule
from advconf.errors import AdvconfError
from tests.data.formats import write_mnist


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


def test_successful_download_moves_complete_files_into_place(tmp_path, monkeypatch):
    def fake_download(self):  # torchvision keeps the .gz archives beside the extracted files
        write_mnist(Path(self.raw_folder), n_train=20, n_test=10, gz=True)
        write_mnist(Path(self.raw_folder), n_train=20, n_test=10, gz=False)

    monkeypatch.setattr(datasets.MNIST, "download", fake_download)
    dm = MNISTDataModule("mnist", str(tmp_path / "mnist"), download=True, val_size=0)
    dm.prepare_data()
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


def test_truncated_idx_file_is_reported(tmp_path):
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(AdvconfError, match="truncated"):
        MNISTDataModule("mnist", str(tmp_path)).setup("fit")
