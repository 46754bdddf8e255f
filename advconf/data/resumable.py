"""A seeded training order that a checkpoint taken mid-epoch resumes exactly."""

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochShuffle(Sampler[int]):
    """A permutation that depends only on (seed, epoch), starting ``start`` positions in (for resuming).

    Lightning calls ``set_epoch`` before every epoch, with the epoch restored from the checkpoint.
    """

    def __init__(self, data: Sized, seed: int) -> None:
        self.data = data
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.data), generator=generator)[self.start :].tolist()
        self.start = 0
        return iter(order)

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
    """

    def __init__(
        self, dataset: Dataset, batch_size: int, seed: int, drop_last: bool = False, sampler: Any = None, **kwargs: Any
    ) -> None:
        sampler = EpochShuffle(dataset, seed) if sampler is None else sampler
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **kwargs)
        self.seed = seed  # Lightning reads constructor arguments back from attributes when it re-creates us
        self._served = 0

    def _shuffle(self) -> EpochShuffle | None:
        return self.sampler if isinstance(self.sampler, EpochShuffle) else None

    def __iter__(self) -> Iterator[Any]:
        shuffle = self._shuffle()
        self._served = shuffle.start // self.batch_size if shuffle else 0
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        shuffle = self._shuffle()
        return {"epoch": shuffle.epoch, "batches": self._served} if shuffle else {}

    def load_state_dict(self, state: dict[str, int]) -> None:
        shuffle = self._shuffle()
        if shuffle and state:
            shuffle.epoch = state["epoch"]
            shuffle.start = state["batches"] * self.batch_size
