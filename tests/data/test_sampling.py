import pytest
import torch

from lit_mmrec.data.sampling import BPRTrainLoader, NegativeSampler, UserChunkLoader


def random_interactions(num_users=50, num_items=30, n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.unique(torch.randint(num_users * num_items, (n,), generator=g))
    return keys // num_items, keys % num_items, num_items


def test_negatives_are_never_training_positives():
    users, items, num_items = random_interactions()
    positives = set(zip(users.tolist(), items.tolist(), strict=False))
    loader = BPRTrainLoader(users, items, num_items, batch_size=64, seed=1)
    for epoch in range(3):
        loader.set_epoch(epoch)
        for u, p, n in loader:
            assert all((a, b) in positives for a, b in zip(u.tolist(), p.tolist(), strict=False))
            assert not any((a, b) in positives for a, b in zip(u.tolist(), n.tolist(), strict=False))


def test_dense_user_still_gets_valid_negatives():
    # user 0 has every item but one: the only valid negative is item 7
    num_items = 10
    users = torch.tensor([0] * 9 + [1])
    items = torch.tensor([i for i in range(10) if i != 7] + [3])
    sampler = NegativeSampler(users, items, num_items)
    negatives = sampler.sample(torch.zeros(500, dtype=torch.long), torch.Generator().manual_seed(0))
    assert torch.all(negatives == 7)


def test_user_with_every_item_is_an_error():
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(torch.tensor([0, 0, 0]), torch.tensor([0, 1, 2]), 3)


def test_epochs_are_deterministic_and_differ():
    users, items, num_items = random_interactions()
    a = BPRTrainLoader(users, items, num_items, batch_size=64, seed=5)
    b = BPRTrainLoader(users, items, num_items, batch_size=64, seed=5)
    e0 = a.epoch_triples(0)
    assert all(torch.equal(x, y) for x, y in zip(e0, b.epoch_triples(0), strict=False))
    e1 = a.epoch_triples(1)
    assert not torch.equal(e0[0], e1[0])
    # every training interaction appears exactly once per epoch (single process)
    assert torch.equal(torch.sort(e0[0] * num_items + e0[1]).values, torch.sort(users * num_items + items).values)
    assert len(a) == -(-users.numel() // 64)
    assert sum(1 for _ in a) == len(a)


def test_ddp_shards_are_disjoint_and_equal_sized():
    users, items, num_items = random_interactions(n=601)
    shards = [BPRTrainLoader(users, items, num_items, 32, seed=3, rank=r, world_size=3).epoch_triples(2) for r in range(3)]
    keys = [s[0] * num_items + s[1] for s in shards]
    assert len({k.numel() for k in keys}) == 1
    joined = torch.cat(keys)
    assert torch.unique(joined).numel() == joined.numel()


@pytest.mark.parametrize("world_size", [1, 2, 3, 7])
def test_user_chunks_cover_every_user_once(world_size):
    users = torch.arange(20) * 3
    seen = torch.cat([torch.cat(list(UserChunkLoader(users, 4, r, world_size)) or [torch.empty(0, dtype=torch.long)]) for r in range(world_size)])
    assert torch.equal(seen, users)
