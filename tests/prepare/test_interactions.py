import numpy as np
import pytest

from lit_mmrec.prepare.interactions import (
    InteractionCollector,
    assign_ids,
    drop_duplicate_pairs,
    kcore_filter,
    mmrec_split,
    split_sizes,
)


def collect(rows):
    collector = InteractionCollector("rows")
    for line, (user, item, *rest) in enumerate(rows, start=1):
        collector.add(user, item, 1.0, rest[0] if rest else 0, line)
    return collector.build()


def pairs(interactions):
    return {(interactions.user_names[u], interactions.item_names[i]) for u, i in zip(interactions.users, interactions.items, strict=True)}


def test_duplicates_keep_the_first_row():
    data = collect([("a", "x", 5), ("a", "x", 1), ("b", "x", 2)])
    kept, dropped = drop_duplicate_pairs(data)
    assert dropped == 1
    assert kept.timestamps.tolist() == [5, 2]


def test_kcore_iterates_until_stable():
    # 2-core: user c has one item; removing it leaves item z with one user (b), and then b with one item.
    rows = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("b", "z"), ("c", "z"), ("d", "z")]
    rows[-1] = ("d", "w")  # d and w are alone
    kept, rounds = kcore_filter(collect(rows), 2)
    assert pairs(kept) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}
    assert rounds == 2  # first drops c, d, w; then z (left with b only)
    degrees_u = np.bincount(kept.users)
    degrees_i = np.bincount(kept.items)
    assert degrees_u[degrees_u > 0].min() >= 2 and degrees_i[degrees_i > 0].min() >= 2


def test_kcore_zero_or_one_keeps_everything():
    data = collect([("a", "x"), ("b", "y")])
    for k in (0, 1):
        assert len(kcore_filter(data, k)[0]) == 2


def test_ids_by_appearance_and_sorted():
    data = collect([("10", "B"), ("2", "A"), ("10", "A"), ("1", "C")])
    appearance = assign_ids(data, "appearance")
    assert appearance.user_names == ["10", "2", "1"] and appearance.item_names == ["B", "A", "C"]
    assert appearance.users.tolist() == [0, 1, 0, 2]
    ordered = assign_ids(data, "sorted")
    assert ordered.user_names == ["1", "2", "10"]  # numerically, not as text
    assert ordered.item_names == ["A", "B", "C"]
    assert ordered.users.tolist() == [2, 1, 2, 0] and ordered.items.tolist() == [1, 0, 0, 2]


def test_split_sizes_follow_mmrecs_rule():
    assert split_sizes(5) == (3, 1, 1)
    assert split_sizes(9) == (7, 1, 1)
    assert split_sizes(10) == (8, 1, 1)
    assert split_sizes(14) == (12, 1, 1)
    assert split_sizes(15) == (12, 1, 2)  # int(0.2*15) = 3: valid 1, test 2
    assert split_sizes(23) == (19, 2, 2)
    for n in range(10, 20000):
        train, valid, test = split_sizes(n)
        held_out = int(n * 0.2)  # MMRec's expression
        assert (train, valid, test) == (n - held_out, held_out // 2, held_out - held_out // 2)


def make_users(counts, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for user, n in enumerate(counts):
        for k, item in enumerate(rng.choice(500, size=n, replace=False)):
            rows.append((f"u{user}", f"i{item}", 1000 * user + k))
    return assign_ids(collect(rows), "appearance")


def test_split_labels_every_user_by_the_rule():
    counts = [1, 2, 3, 5, 9, 10, 11, 15, 23, 57]
    split = mmrec_split(make_users(counts), seed=1)
    assert np.all(np.diff(split.users) >= 0)  # grouped by user
    for user, n in enumerate(counts):
        labels = split.labels[split.users == user]
        assert np.all(np.diff(labels) >= 0)  # train, then valid, then test
        assert tuple(np.bincount(labels, minlength=3)) == split_sizes(n)
    assert sorted(zip(split.users.tolist(), split.items.tolist(), strict=True)) == sorted(
        zip(make_users(counts).users.tolist(), make_users(counts).items.tolist(), strict=True)
    )


def test_split_is_seeded():
    data = make_users([20] * 30)
    first, again, other = (mmrec_split(data, seed=s) for s in (7, 7, 8))
    assert np.array_equal(first.items, again.items) and np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.items, other.items)


def test_time_order_holds_out_the_latest_rows():
    data = make_users([12, 6])
    split = mmrec_split(data, order="time")
    for user in (0, 1):
        mine = split.users == user
        times, labels = split.timestamps[mine], split.labels[mine]
        assert times[labels == 0].max() < times[labels > 0].min()
        assert times[labels == 1].max() < times[labels == 2].min()


def test_bad_options_are_rejected():
    data = make_users([5])
    with pytest.raises(ValueError, match="split order"):
        mmrec_split(data, order="shuffled")
    with pytest.raises(ValueError, match="k of the k-core"):
        kcore_filter(collect([("a", "x")]), -1)
