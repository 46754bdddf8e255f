"""The resumable training loader under DDP: Lightning must see it as shuffled, so that the
DistributedSampler it puts in its place shuffles too (it cannot tell that EpochShuffle does)."""

import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods, _update_dataloader
from lightning.pytorch.utilities.data import _is_dataloader_shuffled
from torch.utils.data import DataLoader, DistributedSampler

from advconf.data import MNISTDataModule
from advconf.data.resumable import ResumableLoader


def lightning_request(datamodule: MNISTDataModule) -> DataLoader:
    """``train_dataloader()`` as Lightning calls it: with constructor arguments recorded."""
    with _replace_dunder_methods(DataLoader, "dataset"):
        return datamodule.train_dataloader()


def test_ddp_replaces_the_resumable_order_by_a_shuffled_distributed_one(fashion_mnist_dir):
    datamodule = MNISTDataModule("fashion_mnist", str(fashion_mnist_dir), classes=[7, 5], val_size=1000,
                                 batch_size=64, num_workers=1)
    datamodule.setup("fit")
    loader = lightning_request(datamodule)
    assert isinstance(loader, ResumableLoader)
    assert _is_dataloader_shuffled(loader)  # what Lightning asks before building its sampler

    # What Lightning does under DDP with that answer: rank 0 of 2.
    sampler = DistributedSampler(loader.dataset, num_replicas=2, rank=0, shuffle=_is_dataloader_shuffled(loader), seed=0)
    ddp = _update_dataloader(loader, sampler)
    assert isinstance(ddp, ResumableLoader) and ddp.sampler is sampler
    order = list(iter(ddp.sampler))
    assert order != list(range(0, 2 * len(order), 2))  # not every other example in file order
    sampler.set_epoch(1)
    assert list(iter(ddp.sampler)) != order  # a new order every epoch


def test_refuses_an_unshuffled_order_it_cannot_give():
    data = torch.utils.data.TensorDataset(torch.arange(10.0))
    with pytest.raises(ValueError, match="always shuffles"):
        ResumableLoader(data, batch_size=2, seed=0, shuffle=False)
