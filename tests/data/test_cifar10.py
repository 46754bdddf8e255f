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
