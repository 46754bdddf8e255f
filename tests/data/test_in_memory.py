"""The in-memory training loader: the same seeded batches as the DataLoader path, resumable, in chunks, per DDP rank."""

import pytest
import torch

from advconf.data.image import ImageTensorDataset, _batch_is_ready
from advconf.data.resumable import InMemoryLoader, ResumableLoader
from advconf.errors import AdvconfError


def images(n: int = 1000) -> ImageTensorDataset:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=generator)
    return ImageTensorDataset(pixels, torch.randint(0, 2, (n,), generator=generator))


def epoch(loader, number: int) -> list:
    loader.sampler.set_epoch(number)
    return list(loader)


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))


@pytest.mark.parametrize("drop_last", [False, True])
def test_serves_the_same_batches_as_the_dataloader_path(drop_last):
    data = images()
    reference = ResumableLoader(data, batch_size=64, seed=3, drop_last=drop_last, collate_fn=_batch_is_ready)
    loader = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, drop_last=drop_last)
    assert len(loader) == len(reference) == (15 if drop_last else 16)
    for number in range(3):
        assert same(epoch(loader, number), epoch(reference, number))
    assert not same(epoch(loader, 0), epoch(loader, 1))  # each epoch has its own order


def test_the_batches_follow_the_seeded_order_written_out():
    data = images(100)
    loader = InMemoryLoader(data.__getitems__, 100, batch_size=30, seed=5)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(5 * 1_000_003 + 2))
    batches = epoch(loader, 2)
    assert [len(y) for _, y in batches] == [30, 30, 30, 10]
    torch.testing.assert_close(torch.cat([y for _, y in batches]), data.labels[order], rtol=0, atol=0)
    torch.testing.assert_close(batches[0][0], data.images[order[:30]].float() / 255, rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [1, 4])
def test_a_loader_restored_mid_epoch_serves_the_rest_of_that_epoch_then_the_next_from_its_start(chunk):
    data = images()
    loader = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, batches_per_chunk=chunk)
    loader.sampler.set_epoch(1)
    whole = list(loader)
    served = iter(loader)
    for _ in range(2):
        next(served)
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["batches"] == sum(len(b.batch_sizes) if chunk > 1 else 1 for b in whole[:2])

    resumed = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, batches_per_chunk=chunk)
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(1)  # what Lightning does before the restored epoch
    assert same(list(resumed), whole[2:])
    assert same(epoch(resumed, 2), epoch(loader, 2))


def test_a_checkpoint_taken_at_the_end_of_an_epoch_resumes_with_the_next_epochs_first_batch():
    data = images()
    for make in (
        lambda: InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3),
        lambda: ResumableLoader(data, batch_size=64, seed=3, collate_fn=_batch_is_ready),
    ):
        loader = make()
        epoch(loader, 0)
        resumed = make()
        resumed.load_state_dict(loader.state_dict())  # epoch 0, every batch served
        assert same(epoch(resumed, 1), epoch(make(), 1))


def test_chunks_end_at_every_multiple_of_the_chunk_size_in_the_run_and_keep_the_batches():
    data = images()  # 16 batches per epoch; chunks of 5 batches
    loader = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, batches_per_chunk=5)
    plain = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3)
    run_step = 0
    for number in range(6):
        chunks = epoch(loader, number)
        assert len(chunks) == len(loader)  # Lightning needs the same count every epoch
        batches = [(x, y) for chunk in chunks for x, y in chunk.batches()]
        assert same(batches, epoch(plain, number))
        ends = []
        for chunk in chunks:
            run_step += len(chunk.batch_sizes)
            ends.append(run_step)
            x, y, *_ = chunk  # code that reads a batch as x, y sees every example of the chunk
            assert len(x) == len(y) == sum(chunk.batch_sizes)
        epoch_start = number * 16
        assert {s for s in range(epoch_start + 1, epoch_start + 17) if s % 5 == 0} <= set(ends)


def test_resuming_mid_epoch_with_another_chunk_size_is_refused():
    data = images()
    loader = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, batches_per_chunk=5)
    served = iter(loader)
    next(served)
    other = InMemoryLoader(data.__getitems__, len(data), batch_size=64, seed=3, batches_per_chunk=1)
    with pytest.raises(AdvconfError, match="same setting"):
        other.load_state_dict(loader.state_dict())


@pytest.mark.parametrize("world_size", [2, 3])
def test_every_ddp_rank_gets_its_own_shard_of_the_epoch(world_size):
    data = images(100)
    ranks = [InMemoryLoader(data.__getitems__, 100, batch_size=8, seed=3, rank=r, world_size=world_size) for r in range(world_size)]
    seen_images = []
    for loader in ranks:
        batches = epoch(loader, 4)
        assert len(batches) == len(ranks[0])
        seen_images.append(torch.cat([x.flatten(1) for x, _ in batches]))
    shard = -(-100 // world_size)
    assert all(len(seen) == shard for seen in seen_images)
    order = torch.randperm(100, generator=torch.Generator().manual_seed(3 * 1_000_003 + 4))
    padded = torch.cat([order, order[: shard * world_size - 100]])
    for rank, seen in enumerate(seen_images):
        expected = data.images[padded[rank::world_size]].float().div(255).flatten(1)
        torch.testing.assert_close(seen, expected, rtol=0, atol=0)
