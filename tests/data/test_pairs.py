"""The one CSR-from-pairs builder, the one membership test and the per-user item sets
(lit_mmrec.data.pairs)."""

import pytest
import torch

from lit_mmrec.data.pairs import UserItemIndex, contains_pairs, pairs_to_csr, row_pointers


def random_pairs(num_rows=7, num_cols=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_rows, num_cols, generator=generator) < 0.4
    rows, cols = mask.nonzero().unbind(1)
    order = torch.randperm(rows.numel(), generator=generator)  # unsorted input
    return rows[order], cols[order], mask


@pytest.mark.parametrize("weighted", [False, True])
def test_pairs_to_csr_matches_dense(weighted):
    rows, cols, mask = random_pairs()
    values = torch.rand(rows.numel()) if weighted else None
    matrix = pairs_to_csr(rows, cols, 7, 5, values)
    dense = torch.zeros(7, 5)
    dense[rows, cols] = values if weighted else 1.0
    assert matrix.layout == torch.sparse_csr
    assert torch.equal(matrix.to_dense(), dense)
    assert torch.equal(matrix.crow_indices(), row_pointers(rows, 7))


def test_row_pointers_count_entries_per_row_including_empty_rows():
    assert row_pointers(torch.tensor([2, 0, 2]), 4).tolist() == [0, 1, 1, 3, 3]


def test_contains_pairs_matches_a_python_set_and_broadcasts():
    rows, cols, mask = random_pairs(seed=1)
    keys = torch.sort(rows * 5 + cols).values
    users = torch.arange(7)
    items = torch.arange(5).expand(7, 5)
    assert torch.equal(contains_pairs(keys, users.view(-1, 1), items, 5), mask)
    assert not contains_pairs(torch.empty(0, dtype=torch.long), users, users % 5, 5).any()


def test_user_item_index_counts_and_membership():
    index = UserItemIndex(torch.tensor([0, 0, 2, 0]), torch.tensor([3, 1, 4, 3]), num_users=3, num_items=5)
    assert index.counts(torch.arange(3)).tolist() == [2, 0, 1]  # duplicate (0, 3) counted once
    items = torch.tensor([[1, 3, 4], [1, 3, 4], [1, 3, 4]])
    assert index.contains(torch.arange(3), items).tolist() == [[True, True, False], [False] * 3, [False, False, True]]
