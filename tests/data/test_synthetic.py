"""Tests of the synthetic MMRec-layout data generator (``lit_mmrec.data.synthetic``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lit_mmrec.data import synthetic
from lit_mmrec.data.synthetic import (
    INTER_HEADER,
    SyntheticSpec,
    default_cache_dir,
    ensure_synthetic,
    generate_synthetic,
    spec_hash,
)

SMALL = {"num_users": 300, "num_items": 200, "modalities": {"image": 16, "text": 8}}


def read_inter(folder: Path, name: str) -> tuple[str, np.ndarray]:
    """Header line and int64 rows ``[userID, itemID, rating, timestamp, x_label]`` of ``<name>.inter``."""
    path = folder / f"{name}.inter"
    header = path.read_text().split("\n", 1)[0]
    return header, np.loadtxt(path, skiprows=1, delimiter="\t", dtype=np.int64, ndmin=2)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """File name -> content of every file in ``folder``."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float64)."""
    matrix = matrix.astype(np.float64)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def held_out_similarity(folder: Path, spec: SyntheticSpec, modality: str) -> tuple[float, float]:
    """Cosine of each test item vs a random item to the mean features of its user's training items.

    Returns ``(mean cosine margin of test over random items, fraction of pairs where test wins)``.
    """
    rows = read_inter(folder, spec.name)[1]
    users, items, labels = rows[:, 0], rows[:, 1], rows[:, 4]
    features = unit_rows(np.load(folder / f"{modality}_feat.npy"))
    train = labels == 0
    profile = np.zeros((spec.num_users, features.shape[1]))
    np.add.at(profile, users[train], features[items[train]])
    profile = unit_rows(profile)

    test = labels == 2
    random_items = np.random.default_rng(0).integers(0, spec.num_items, size=int(test.sum()))
    held_out = np.sum(profile[users[test]] * features[items[test]], axis=1)
    random = np.sum(profile[users[test]] * features[random_items], axis=1)
    return float(held_out.mean() - random.mean()), float(np.mean(held_out > random))


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSpec, Path]:
    """The default spec, generated once for the module."""
    spec = SyntheticSpec()
    return spec, generate_synthetic(spec, tmp_path_factory.mktemp("synthetic") / "default")


def test_layout_header_and_dtypes(default_dataset: tuple[SyntheticSpec, Path]) -> None:
    spec, folder = default_dataset
    assert sorted(path.name for path in folder.iterdir()) == [
        "image_feat.npy",
        "stats.json",
        "synthetic.inter",
        "text_feat.npy",
    ]
    assert not [path for path in folder.parent.iterdir() if ".tmp-" in path.name]

    header, rows = read_inter(folder, spec.name)
    assert header == INTER_HEADER == "userID\titemID\trating\ttimestamp\tx_label"
    assert rows.shape[1] == 5
    assert np.all(rows[:, 2] == 1)
    assert set(np.unique(rows[:, 4])) == {0, 1, 2}
    assert rows[:, 3].min() > 1_300_000_000 and rows[:, 3].max() < 1_700_000_000  # 2011..2023

    for modality, dim in spec.modalities.items():
        features = np.load(folder / f"{modality}_feat.npy")
        assert features.dtype == np.float32
        assert features.shape == (spec.num_items, dim)
        assert np.isfinite(features).all()


def test_ids_contiguous_and_interactions_valid(default_dataset: tuple[SyntheticSpec, Path]) -> None:
    spec, folder = default_dataset
    rows = read_inter(folder, spec.name)[1]
    users, items, timestamps, labels = rows[:, 0], rows[:, 1], rows[:, 3], rows[:, 4]

    np.testing.assert_array_equal(np.unique(users), np.arange(spec.num_users))
    assert users.max() + 1 == spec.num_users
    assert items.min() >= 0 and items.max() + 1 == spec.num_items  # MMRec's n_items
    assert np.any((items == spec.num_items - 1) & (labels == 0))
    # Items are sampled without replacement: no repeated (user, item) pair.
    assert len(set(zip(users.tolist(), items.tolist(), strict=True))) == len(rows)

    item_counts = np.bincount(items, minlength=spec.num_items)
    assert 0 < np.sum(item_counts == 0) < 0.05 * spec.num_items  # a few cold-start items

    # Grouped by user, each user's timestamps strictly increasing.
    assert np.all(np.diff(users) >= 0)
    same_user = np.diff(users) == 0
    assert np.all(np.diff(timestamps)[same_user] > 0)


def test_split_follows_mmrec_rule(default_dataset: tuple[SyntheticSpec, Path]) -> None:
    spec, folder = default_dataset
    rows = read_inter(folder, spec.name)[1]
    per_user = Counter(zip(rows[:, 0].tolist(), rows[:, 4].tolist(), strict=True))
    totals = Counter(rows[:, 0].tolist())
    assert min(totals.values()) >= 5
    assert any(n < 10 for n in totals.values()) and any(n >= 10 for n in totals.values())

    for user, n in totals.items():
        if n < 10:
            expected = (n - 2, 1, 1)
        else:
            valid_and_test = int(0.2 * n)
            valid = valid_and_test // 2
            expected = (n - valid_and_test, valid, valid_and_test - valid)
        assert tuple(per_user[user, label] for label in (0, 1, 2)) == expected, (user, n)


def test_stats_json_matches_files(default_dataset: tuple[SyntheticSpec, Path]) -> None:
    spec, folder = default_dataset
    stats = json.loads((folder / "stats.json").read_text())
    rows = read_inter(folder, spec.name)[1]
    assert stats["users"] == spec.num_users
    assert stats["items"] == spec.num_items
    assert stats["interactions"] == len(rows)
    assert [stats["train"], stats["valid"], stats["test"]] == np.bincount(rows[:, 4]).tolist()
    assert stats["spec_hash"] == spec_hash(spec)
    assert SyntheticSpec(**stats["spec"]) == spec
    assert abs(stats["interactions"] / spec.num_users - spec.mean_interactions_per_user) < 2.0


def test_same_spec_gives_identical_files(tmp_path: Path) -> None:
    spec = SyntheticSpec(**SMALL)
    first = folder_bytes(generate_synthetic(spec, tmp_path / "first"))
    second = folder_bytes(generate_synthetic(spec, tmp_path / "second"))
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name


def test_different_seeds_differ(tmp_path: Path) -> None:
    first = folder_bytes(generate_synthetic(SyntheticSpec(**SMALL, seed=1), tmp_path / "a"))
    second = folder_bytes(generate_synthetic(SyntheticSpec(**SMALL, seed=2), tmp_path / "b"))
    for name in ("synthetic.inter", "image_feat.npy", "text_feat.npy"):
        assert first[name] != second[name], name


@pytest.mark.parametrize("modality", ["image", "text"])
def test_modal_features_carry_preference_signal(
    default_dataset: tuple[SyntheticSpec, Path], modality: str
) -> None:
    spec, folder = default_dataset
    margin, win_rate = held_out_similarity(folder, spec, modality)
    assert margin > 0.08, margin  # observed ~0.13
    assert win_rate > 0.65, win_rate  # observed ~0.70-0.73


def test_no_preference_means_no_feature_signal(tmp_path: Path) -> None:
    """Control: with preference_strength=0 choices ignore the latents, so features predict nothing."""
    spec = SyntheticSpec(**{**SMALL, "num_users": 600}, preference_strength=0.0)
    folder = generate_synthetic(spec, tmp_path / "no_preference")
    margin, win_rate = held_out_similarity(folder, spec, "image")
    assert abs(margin) < 0.02, margin
    assert abs(win_rate - 0.5) < 0.05, win_rate


def test_popularity_is_skewed(default_dataset: tuple[SyntheticSpec, Path]) -> None:
    spec, folder = default_dataset
    items = read_inter(folder, spec.name)[1][:, 1]
    counts = np.sort(np.bincount(items, minlength=spec.num_items))[::-1]
    top_share = counts[: spec.num_items // 10].sum() / counts.sum()
    assert top_share > 0.3, top_share  # observed ~0.36


def test_ensure_synthetic_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIT_MMREC_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    spec = SyntheticSpec(**SMALL)
    folder = ensure_synthetic(spec)
    assert folder == tmp_path / "synthetic" / f"synthetic-{spec_hash(spec)}"
    assert (folder / "stats.json").is_file()

    def must_not_run(spec: SyntheticSpec) -> None:
        raise AssertionError("regenerated a cached data set")

    monkeypatch.setattr(synthetic, "_simulate", must_not_run)
    assert ensure_synthetic(spec) == folder
    assert ensure_synthetic(spec, cache_dir=tmp_path) == folder
    assert spec_hash(SyntheticSpec(**SMALL, seed=1)) != spec_hash(spec)


def test_default_cache_dir_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIT_MMREC_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "lit_mmrec"


def test_concurrent_writer_finishing_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process publishes the folder while this one simulates: keep theirs, leave no temp dir."""
    spec = SyntheticSpec(**SMALL)
    out_dir = tmp_path / "shared"
    simulate = synthetic._simulate

    def other_process_finishes_first(spec: SyntheticSpec) -> synthetic._Simulated:
        data = simulate(spec)
        monkeypatch.setattr(synthetic, "_simulate", simulate)
        generate_synthetic(spec, out_dir)
        (out_dir / "winner").write_text("other process")
        return data

    monkeypatch.setattr(synthetic, "_simulate", other_process_finishes_first)
    assert generate_synthetic(spec, out_dir) == out_dir
    assert (out_dir / "winner").read_text() == "other process"
    assert [path.name for path in tmp_path.iterdir()] == ["shared"]


def test_refuses_to_overwrite_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a data set")
    with pytest.raises(FileExistsError):
        generate_synthetic(SyntheticSpec(**SMALL), tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (generate_synthetic(SyntheticSpec(**SMALL), empty) / "stats.json").is_file()


@pytest.mark.parametrize(
    "overrides",
    [
        {"num_users": 0},
        {"num_items": 15},
        {"mean_interactions_per_user": 4.0},
        {"cold_item_fraction": 1.0},
        {"new_item_fraction": -0.1},
        {"new_item_fraction": 0.99},
        {"name": "../escape"},
        {"modalities": {"image": 0}},
    ],
)
def test_invalid_specs_are_rejected(overrides: dict) -> None:
    with pytest.raises(ValueError):
        SyntheticSpec(**overrides)


def test_new_items_appear_only_in_test(tmp_path: Path) -> None:
    base = SyntheticSpec(**SMALL)
    spec = SyntheticSpec(**SMALL, new_item_fraction=0.05)
    rows = read_inter(generate_synthetic(spec, tmp_path / "new"), spec.name)[1]
    base_rows = read_inter(generate_synthetic(base, tmp_path / "base"), base.name)[1]
    items, labels = rows[:, 1], rows[:, 4]
    # the same interactions and features; only labels change, and only to test
    order, base_order = np.lexsort((rows[:, 1], rows[:, 0])), np.lexsort((base_rows[:, 1], base_rows[:, 0]))
    assert np.array_equal(rows[order, :2], base_rows[base_order, :2])
    changed = labels[order] != base_rows[base_order, 4]
    assert changed.any() and np.all(labels[order][changed] == 2)
    # the new items: 5% of the items, test rows only, never the last id
    only_test = np.setdiff1d(np.unique(items[labels == 2]), items[labels != 2])
    assert only_test.size == round(0.05 * spec.num_items)
    assert spec.num_items - 1 not in only_test
    assert np.all(np.isin(items[order][changed], only_test))


def test_default_new_item_fraction_keeps_the_cache_key() -> None:
    """Caches made before the option existed stay valid: the hash of a spec without it is unchanged."""
    import dataclasses
    import hashlib

    fields = dataclasses.asdict(SyntheticSpec(**SMALL))
    del fields["new_item_fraction"]
    payload = json.dumps({"generator_version": synthetic.GENERATOR_VERSION, **fields}, sort_keys=True)
    assert spec_hash(SyntheticSpec(**SMALL)) == hashlib.sha256(payload.encode()).hexdigest()[:12]
    assert spec_hash(SyntheticSpec(**SMALL)) != spec_hash(SyntheticSpec(**SMALL, new_item_fraction=0.05))
