import os
import pickle

import numpy as np
import pytest
import torch

from advconf.data import CIFAR10DataModule
from advconf.data.cifar10 import random_crop_flip
from advconf.errors import AdvconfError
from tests.data.formats import write_cifar10


def test_python_pickles_load_as_unit_range_chw_images(tmp_path):
    write_cifar10(tmp_path)
    dm = CIFAR10DataModule(str(tmp_path), val_size=10, batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (90, 10, 20)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
    # The writer stored each label in the red channel of pixel (0, 0): rows of 3072 are CHW.
    assert torch.equal((x[:, 0, 0, 0] * 255).round().long(), y)
    assert dm.input_shape == (3, 32, 32) and dm.num_classes == 10


def test_data_dir_may_be_the_batches_folder_itself(tmp_path):
    folder = write_cifar10(tmp_path)
    dm = CIFAR10DataModule(str(folder), classes=[3, 5], val_size=0)
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    original = (x[:, 0, 0, 0] * 255).round().long()
    assert set(original.tolist()) == {3, 5} and torch.equal(y, (original == 5).long())
    assert dm.class_names == ["cat", "dog"]


def test_missing_pickles_are_named_with_the_folder(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(AdvconfError, match=r"missing data_batch_3; put them in .*cifar-10-batches-py"):
        CIFAR10DataModule(str(tmp_path)).prepare_data()


def test_failed_download_leaves_no_data_directory_behind(tmp_path, monkeypatch):
    from torchvision import datasets

    def fail(self):
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets.CIFAR10, "download", fail)
    with pytest.raises(AdvconfError, match="download failed"):
        CIFAR10DataModule(str(tmp_path / "cifar"), download=True).prepare_data()
    assert list(tmp_path.iterdir()) == []


def test_augmentation_is_applied_to_training_images_only(tmp_path):
    write_cifar10(tmp_path)
    dm = CIFAR10DataModule(str(tmp_path), val_size=10, augment=True)
    dm.setup("fit")
    assert dm.train_set.transform is random_crop_flip and dm.val_set.transform is None


def test_random_crop_flip_keeps_shape_and_shifts_content():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    out = random_crop_flip(x)
    assert out.shape == x.shape
    unchanged = [(out[i] == x[i]).all().item() for i in range(64)]
    assert 0 < sum(unchanged) < 64  # some draws are the identity (no shift, no flip), most are not


@pytest.mark.parametrize("kwargs, message", [({"classes": [0, 10]}, "out of range"), ({"classes": [1]}, "at least two")])
def test_bad_class_subsets_are_refused(kwargs, message):
    with pytest.raises(AdvconfError, match=message):
        CIFAR10DataModule("unused", **kwargs)


class RunsCode:
    """What a malicious pickle holds: unpickling it would call os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def batch_bytes(**batch) -> bytes:
    return pickle.dumps({"batch_label": "x", "filenames": [], **batch}, protocol=2)


GOOD = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 9]}
# What replaces data_batch_2, and the end of the error message.
DAMAGE = {
    "truncated": (lambda raw: raw[:-100], "is not a readable CIFAR-10 batch (UnpicklingError: pickle data was truncated)"),
    "empty": (lambda raw: b"", "is not a readable CIFAR-10 batch (EOFError: Ran out of input)"),
    "not a pickle": (lambda raw: b"<html>", "is not a readable CIFAR-10 batch (UnpicklingError: invalid load key, '<'.)"),
    "no labels": (lambda raw: pickle.dumps({"data": GOOD["data"]}), "is not a CIFAR-10 batch: it has no 'data' and 'labels'"),
    "wrong image size": (lambda raw: batch_bytes(data=np.zeros((4, 1024), np.uint8), labels=GOOD["labels"]),
                         ": 'data' is uint8 of shape (4, 1024), not N x 3072 bytes (32 x 32 RGB images)"),
    "label count": (lambda raw: batch_bytes(data=GOOD["data"], labels=[0, 1]), ": 'labels' has shape (2,), not 4 integer labels"),
    "label range": (lambda raw: batch_bytes(data=GOOD["data"], labels=[0, 1, 2, 10]), ": labels must be 0..9, found 0..10"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_batch_file_is_refused_with_its_name_and_what_is_wrong(tmp_path, damage):
    folder = write_cifar10(tmp_path)
    path = folder / "data_batch_2"
    change, message = DAMAGE[damage]
    path.write_bytes(change(path.read_bytes()))
    with pytest.raises(AdvconfError) as error:
        CIFAR10DataModule(str(tmp_path)).setup("fit")
    assert str(error.value) == f"{path}{'' if message.startswith(':') else ' '}{message}"


def test_a_batch_file_that_would_run_code_is_refused_without_running_it(tmp_path):
    folder = write_cifar10(tmp_path)
    marker = tmp_path / "code-ran"
    (folder / "test_batch").write_bytes(pickle.dumps(RunsCode(marker), protocol=2))
    with pytest.raises(AdvconfError, match=r"test_batch is not a readable CIFAR-10 batch \(UnpicklingError: it refers to (posix|os)\.system"):
        CIFAR10DataModule(str(tmp_path)).setup("test")
    assert not marker.exists()


def test_batches_pickled_by_python_2_era_protocol_load(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(batch_bytes(**GOOD))
    dm = CIFAR10DataModule(str(tmp_path))
    dm.setup("test")
    assert dm.test_set.labels.tolist() == GOOD["labels"] and dm.test_set.images.shape == (4, 3, 32, 32)
