"""A seeded training order that a checkpoint taken mid-epoch resumes exactly.

Two loaders serve it: ``ResumableLoader`` (a ``DataLoader``, for data read by workers) and
``InMemoryLoader`` (for a split held in memory: each batch is one indexing operation on tensors on
the training device, optionally several batches at a time as a ``BatchChunk``).
"""

import itertools
import math
from collections.abc import Callable, Iterator, Sequence, Sized
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler

from advconf.errors import AdvconfError


def epoch_order(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the examples in one epoch: a permutation that depends only on (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(size, generator=generator)


class EpochShuffle(Sampler[int]):
    """``epoch_order``, starting ``start`` positions in when resuming that epoch.

    Lightning calls ``set_epoch`` before every epoch, with the epoch restored from the checkpoint;
    ``resume_at`` applies to the epoch the checkpoint was taken in, not to the next one (a checkpoint
    taken at the end of an epoch resumes with the next epoch's first example).
    """

    def __init__(self, data: Sized, seed: int) -> None:
        self.data = data
        self.seed = seed
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_at(self, epoch: int, position: int) -> None:
        self.epoch = epoch
        self._resume = (epoch, position)

    def position(self) -> int:
        """Where the current epoch starts: the resume position in the checkpoint's epoch, else 0."""
        return self._resume[1] if self._resume is not None and self._resume[0] == self.epoch else 0

    def take_position(self) -> int:
        """``position()``, after which later epochs (and a restart of this one) start from 0."""
        start, self._resume = self.position(), None
        return start

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(len(self.data), self.seed, self.epoch)[self.take_position() :].tolist())

    def __len__(self) -> int:
        return len(self.data)


class ResumableLoader(DataLoader):
    """A shuffling ``DataLoader`` that a checkpoint taken mid-epoch resumes exactly.

    A plain ``DataLoader(shuffle=True)`` draws its order from the global RNG when an epoch starts, and
    Lightning restarts it from its first batch after a mid-epoch resume, so a resumed run sees other
    batches than an uninterrupted one. Here the order is a function of (seed, epoch), and Lightning
    stores ``state_dict()`` (the batches already served) in checkpoints and hands it back on resume.

    Under DDP, Lightning re-creates the loader with its own distributed ``sampler`` (passed here):
    its order is still a function of (seed, epoch), but a mid-epoch resume restarts that epoch.
    Lightning decides whether that sampler shuffles from a ``shuffle=True`` given to the constructor
    (it cannot tell that ``EpochShuffle`` shuffles), so create the loader with ``shuffle=True``; it
    changes nothing else (``shuffle=False`` is refused: use a plain ``DataLoader``).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        seed: int,
        drop_last: bool = False,
        sampler: Any = None,
        shuffle: bool | None = True,
        **kwargs: Any,
    ) -> None:
        # Lightning passes shuffle=False together with its own sampler when it re-creates the loader.
        if shuffle is False and sampler is None:
            raise ValueError("ResumableLoader always shuffles; use a DataLoader for a fixed order")
        sampler = EpochShuffle(dataset, seed) if sampler is None else sampler
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **kwargs)
        self.seed = seed  # Lightning reads constructor arguments back from attributes when it re-creates us
        self._served = 0

    def _shuffle(self) -> EpochShuffle | None:
        return self.sampler if isinstance(self.sampler, EpochShuffle) else None

    def __iter__(self) -> Iterator[Any]:
        shuffle = self._shuffle()
        if shuffle is None:
            self._served = 0
            yield from super().__iter__()
            return
        self._served = shuffle.position() // self.batch_size  # the sampler, iterated below, starts there
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        shuffle = self._shuffle()
        return {"epoch": shuffle.epoch, "batches": self._served} if shuffle else {}

    def load_state_dict(self, state: dict[str, int]) -> None:
        shuffle = self._shuffle()
        if shuffle and state:
            shuffle.resume_at(state["epoch"], state["batches"] * self.batch_size)


class BatchChunk:
    """Consecutive training batches served as one Lightning batch (``InMemoryLoader``).

    ``batches()`` fetches each batch when it is reached (a batch-sized gather stays in cache for the
    step that uses it; gathering the whole chunk first is markedly slower). Code that reads a batch
    as ``x, y, *_`` or ``batch[0]``, ``batch[1]`` gets every example of the chunk, fetched at once,
    so it cannot change the chunk in place.
    """

    def __init__(self, fetch: Callable[[torch.Tensor], Sequence[torch.Tensor]], indices: list[torch.Tensor]) -> None:
        self.fetch = fetch
        self.indices = indices

    @property
    def batch_sizes(self) -> list[int]:
        return [len(i) for i in self.indices]

    def batches(self) -> Iterator[Sequence[torch.Tensor]]:
        return map(self.fetch, self.indices)

    def _whole(self) -> Sequence[torch.Tensor]:
        return self.fetch(torch.cat(self.indices))

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self._whole())

    def __getitem__(self, position: int) -> torch.Tensor:
        return self._whole()[position]


class InMemoryLoader:
    """Training batches indexed straight from a split held in memory, in ``epoch_order``.

    Serves the same batches as ``ResumableLoader`` over the same data (same seed, batch size and
    ``drop_last``), each with a single ``fetch(indices)`` instead of one call per example and a collate.
    Lightning calls ``sampler.set_epoch`` before every epoch and keeps ``state_dict()`` in checkpoints,
    so a checkpoint taken mid-epoch resumes exactly.

    With ``batches_per_chunk`` K > 1 it serves ``BatchChunk``s: the epoch's batches cut wherever the
    run's batch count (``epoch × batches per epoch + position``) is a multiple of K, and at the end
    of the epoch. Step-based settings that are multiples of K (checkpoint every N steps, log every
    N steps, ``max_steps``) then fall on chunk ends. Lightning needs the same number of Lightning
    batches in every epoch, so an epoch with fewer cuts has its longest chunks halved.

    Under DDP each rank (``rank`` of ``world_size``) takes every ``world_size``-th example of the
    epoch's order, padded with the order's first examples so that all ranks get equally many.

    Args:
        fetch: the batch of the given example indices (a tensor on the data's device).
        size: number of examples.
        batch_size: examples per batch.
        seed: seed of the order.
        drop_last: drop the last batch of each epoch when it is smaller than ``batch_size``.
        batches_per_chunk: batches served together (1: one batch at a time).
        device: where the data is (the index tensors go there).
    """

    def __init__(
        self,
        fetch: Callable[[torch.Tensor], Sequence[torch.Tensor]],
        size: int,
        batch_size: int,
        seed: int,
        drop_last: bool = False,
        batches_per_chunk: int = 1,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        if batches_per_chunk < 1:
            raise AdvconfError(f"batches_per_chunk must be >= 1, got {batches_per_chunk}")
        self.fetch = fetch
        self.size = size
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.batches_per_chunk = batches_per_chunk
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.sampler = EpochShuffle(range(size), seed)  # Lightning calls sampler.set_epoch
        self.shard_size = math.ceil(size / world_size)
        whole, rest = divmod(self.shard_size, batch_size)
        self.batches_per_epoch = whole + (1 if rest and not drop_last else 0)
        self.chunks_per_epoch = _most_cuts(self.batches_per_epoch, batches_per_chunk)
        self._served = 0

    def __len__(self) -> int:
        return self.chunks_per_epoch if self.batches_per_chunk > 1 else self.batches_per_epoch

    def __iter__(self) -> Iterator[Any]:
        epoch = self.sampler.epoch
        start = self.sampler.take_position()
        order = self._shard(epoch_order(self.size, self.sampler.seed, epoch)).to(self.device)
        if self.batches_per_chunk == 1:
            bounds = list(range(self.batches_per_epoch + 1))
        else:
            bounds = chunk_bounds(epoch * self.batches_per_epoch, self.batches_per_epoch, self.batches_per_chunk, self.chunks_per_epoch)
        self._served = start
        for lo, hi in itertools.pairwise(bounds):
            if hi <= start:
                continue
            lo = max(lo, start)
            self._served = hi
            if self.batches_per_chunk == 1:
                yield self.fetch(order[lo * self.batch_size : hi * self.batch_size])
            else:
                yield BatchChunk(self.fetch, list(order[lo * self.batch_size : hi * self.batch_size].split(self.batch_size)))

    def _shard(self, order: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return order
        padded = torch.cat([order, order[: self.shard_size * self.world_size - self.size]])
        return padded[self.rank :: self.world_size]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches": self._served, "batches_per_chunk": self.batches_per_chunk}

    def load_state_dict(self, state: dict[str, int]) -> None:
        saved = state.get("batches_per_chunk", 1)
        if saved != self.batches_per_chunk and state["batches"] not in (0, self.batches_per_epoch):
            raise AdvconfError(
                f"the checkpoint was taken mid-epoch with {saved} batches per chunk; resume it with the same "
                f"setting (model steps_per_chunk {saved}), not {self.batches_per_chunk}"
            )
        self.sampler.resume_at(state["epoch"], state["batches"])


def training_device(datamodule: LightningDataModule) -> torch.device:
    """The device the attached trainer trains on (CPU without a trainer)."""
    trainer = datamodule.trainer
    return trainer.strategy.root_device if trainer is not None else torch.device("cpu")


def in_memory_loader(
    datamodule: LightningDataModule, fetch: Callable[[torch.Tensor], Sequence[torch.Tensor]], size: int, drop_last: bool = False
) -> InMemoryLoader:
    """The training ``InMemoryLoader`` of a data module (its ``batch_size`` and ``seed``) for the run
    it serves: the trainer's device and DDP rank, and chunks of the model's ``steps_per_chunk`` batches."""
    trainer = datamodule.trainer
    if trainer is None:
        return InMemoryLoader(fetch, size, datamodule.batch_size, datamodule.seed, drop_last)
    return InMemoryLoader(
        fetch, size, datamodule.batch_size, datamodule.seed, drop_last,
        batches_per_chunk=getattr(trainer.lightning_module, "steps_per_chunk", 1),
        rank=trainer.global_rank, world_size=trainer.world_size, device=training_device(datamodule),
    )


def chunk_bounds(first: int, count: int, chunk: int, pieces: int) -> list[int]:
    """Positions 0..count where an epoch of ``count`` batches, starting at the run's batch ``first``,
    is cut into ``pieces`` chunks: at every multiple of ``chunk`` in the run's count, then by halving
    the longest chunk until there are ``pieces``."""
    bounds = [0, *(p for p in range(1, count) if (first + p) % chunk == 0), count]
    while len(bounds) - 1 < pieces:
        i = max(range(len(bounds) - 1), key=lambda j: bounds[j + 1] - bounds[j])
        bounds.insert(i + 1, (bounds[i] + bounds[i + 1]) // 2)
    return bounds


def _most_cuts(count: int, chunk: int) -> int:
    """The largest number of chunks any epoch of ``count`` batches gets: epochs start at multiples of
    ``count`` in the run, i.e. at offsets modulo ``chunk`` that are multiples of gcd(count, chunk)."""
    if count == 0:
        return 0
    return max((o + count - 1) // chunk - o // chunk + 1 for o in range(0, chunk, math.gcd(count, chunk)))
