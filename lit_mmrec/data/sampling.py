"""Training and evaluation batch iterators.

Both are plain iterables rather than ``DataLoader``s: a training epoch is generated in a
few vectorised tensor operations (no per-sample ``__getitem__``), and sharding across
DDP ranks is done here, exactly, so that Lightning's ``DistributedSampler`` (which pads
by repeating samples) is never needed.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from lit_mmrec.data.pairs import contains_pairs


def _generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class NegativeSampler:
    """Uniform negatives that are never among the user's training items.

    Membership is tested on the sorted keys ``user * num_items + item`` with
    ``torch.searchsorted``; collisions are redrawn in vectorised rounds.

    Args:
        train_users, train_items: training interactions (duplicates removed).
        num_items: size of the catalogue.
    """

    def __init__(self, train_users: torch.Tensor, train_items: torch.Tensor, num_items: int) -> None:
        self.num_items = num_items
        self.keys = torch.sort(train_users.long() * num_items + train_items.long()).values
        degree = torch.bincount(train_users.long())
        if degree.numel() and int(degree.max()) >= num_items:
            user = int(torch.argmax(degree))
            raise ValueError(f"user {user} interacted with every item in training: no negative can be sampled")

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return contains_pairs(self.keys, users, items, self.num_items)

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        negatives = torch.randint(self.num_items, users.shape, generator=generator)
        todo = self.is_positive(users, negatives).nonzero().squeeze(1)
        while todo.numel():
            negatives[todo] = torch.randint(self.num_items, todo.shape, generator=generator)
            todo = todo[self.is_positive(users[todo], negatives[todo])]
        return negatives


class BPRTrainLoader:
    """One epoch of ``(users, positives, negatives)`` batches, reshuffled and resampled per epoch.

    The epoch's randomness comes only from ``seed + epoch``: a run resumed at epoch ``e``
    sees exactly the batches the uninterrupted run saw. Lightning calls ``set_epoch`` on
    ``loader.sampler`` before every epoch (``_set_sampler_epoch``); ``sampler`` is the
    loader itself for that reason.

    Under DDP each rank takes a contiguous, equally sized share of the epoch's permutation
    (the last ``len % world_size`` interactions of the permutation are skipped, a different
    subset every epoch), so every rank runs the same number of steps.

    Args:
        train_users, train_items: training interactions.
        num_items: size of the catalogue.
        batch_size: interactions per batch (per rank).
        seed: base seed.
        rank, world_size: this process's share.
    """

    def __init__(
        self,
        train_users: torch.Tensor,
        train_items: torch.Tensor,
        num_items: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.users = train_users.long()
        self.items = train_items.long()
        self.sampler_ = NegativeSampler(self.users, self.items, num_items)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    @property
    def sampler(self) -> BPRTrainLoader:
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _share(self) -> int:
        return self.users.numel() // self.world_size

    def __len__(self) -> int:
        return -(-self._share() // self.batch_size)

    def epoch_triples(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This rank's (users, positives, negatives) for ``epoch``, in batch order."""
        generator = _generator(self.seed * 100_003 + epoch)
        order = torch.randperm(self.users.numel(), generator=generator)
        share = self._share()
        order = order[self.rank * share : (self.rank + 1) * share]
        users = self.users[order]
        negatives = self.sampler_.sample(users, generator)
        return users, self.items[order], negatives

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        users, positives, negatives = self.epoch_triples(self.epoch)
        for start in range(0, users.numel(), self.batch_size):
            end = start + self.batch_size
            yield users[start:end], positives[start:end], negatives[start:end]


class UserChunkLoader:
    """Chunks of user ids to rank at evaluation or prediction time.

    Each rank gets a disjoint contiguous share of ``users`` (no padding, no repeats), so
    sum-reduced metrics over ranks count every user exactly once.
    """

    def __init__(self, users: torch.Tensor, chunk_size: int, rank: int = 0, world_size: int = 1) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        # integer bounds: float32 linspace stops being exact above 2**24 users and could drop the last ones
        start, end = users.numel() * rank // world_size, users.numel() * (rank + 1) // world_size
        self.users = users[start:end]
        self.chunk_size = chunk_size

    def __len__(self) -> int:
        return -(-self.users.numel() // self.chunk_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield from torch.split(self.users, self.chunk_size)
