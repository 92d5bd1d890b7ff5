"""Deterministic synthetic multimodal recommendation data in the MMRec layout.

Real data sets (Amazon Baby, Sports, ...) are large downloads; tests, examples and smoke runs need
something small that behaves like them. This module simulates one, written exactly like an MMRec
dataset folder (``<name>.inter``, ``<modality>_feat.npy``) plus a ``stats.json``.

Generative model (``d = latent_dim``, all randomness from ``spec.seed``):

* Users and items have latent vectors ``z_u, z_i ~ N(0, I_d)``; their affinity is
  ``a_ui = <z_u, z_i> / sqrt(d)`` (unit variance).
* Item popularity is Zipf-like: item ``i`` gets a random rank ``r_i`` in ``1..num_items`` and the
  popularity ``p_i = r_i ** -popularity_exponent``. A ``cold_item_fraction`` of the items is never
  interacted with (item cold start); they keep their feature rows.
* User activity is ``n_u = 5 + round(LogNormal)``, heavy-tailed with mean ``mean_interactions_per_user``
  (every user has at least 5 interactions, as after MMRec's 5-core filter).
* User ``u`` picks ``n_u`` distinct items with probability ``∝ p_i * exp(preference_strength * a_ui)``,
  i.e. sampling without replacement, done exactly with the Gumbel-top-k trick over chunks of users.
* Each modality ``m`` with dimension ``D_m`` is a different noisy nonlinear view of the item latents:
  ``x_i = tanh(z_i A_m + c_m) B_m + eps``, with independent random ``A_m [d, H]``, ``c_m [H]``, ``H = 4d``,
  ``B_m [H, D_m]`` per modality and Gaussian noise ``eps`` whose standard deviation is
  ``feature_noise`` times that of the noiseless signal. The features therefore carry the preference
  signal, but only through a modality-specific nonlinearity a model has to learn.
* Interactions are split with the per-user rule of MMRec's preprocessing: per user, shuffled;
  users with fewer than 10 interactions get ``n-2`` train, 1 valid, 1 test; the others
  ``int(0.2 n)`` valid+test, valid getting half of it rounded down and test the rest. Every user
  keeps at least 3 training interactions, and item ``num_items - 1`` has a training interaction so
  that MMRec's ``n_items = max(itemID) + 1`` equals ``num_items``.
* Optionally, a ``new_item_fraction`` of the items (drawn among those with interactions, never item
  ``num_items - 1``) is *new at test time*: all their interactions become test rows, so they have
  ground truth in test and none in training or validation (item cold start with something to
  measure). Users then keep fewer training rows; one left without any is dropped by the loader.

The output is bit-identical for the same spec on the same platform (numpy version and CPU); the
cache directory of :func:`ensure_synthetic` is keyed by a hash of the spec and ``GENERATOR_VERSION``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import shutil
import uuid
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GENERATOR_VERSION",
    "INTER_HEADER",
    "SyntheticSpec",
    "default_cache_dir",
    "ensure_synthetic",
    "generate_synthetic",
    "spec_hash",
    "tiktok_shaped",
]

#: Bump whenever the generative model changes, so that cached data sets are regenerated.
GENERATOR_VERSION = 1

#: Header line of the ``.inter`` file, exactly as MMRec writes it.
INTER_HEADER = "userID\titemID\trating\ttimestamp\tx_label"

#: Every user has at least this many interactions (MMRec data is 5-core filtered).
MIN_INTERACTIONS_PER_USER = 5
#: Users with fewer interactions than this get exactly one validation and one test item.
_SMALL_USER_THRESHOLD = 10
#: Standard deviation of log(activity - 5): how heavy the tail of user activity is.
_ACTIVITY_LOG_STD = 1.0
#: Width of the hidden layer of the per-modality nonlinear feature map.
_FEATURE_HIDDEN_MULTIPLIER = 4
#: Number of float32 Gumbel keys held in memory at once when sampling (about 16 MB).
_CHUNK_ELEMENTS = 1 << 22
#: Timestamps: users start between 2014-01-01 and 2018-01-01 and stay active 1 month to 3 years.
_TIME_START = 1_388_534_400
_TIME_SPAN = 4 * 365 * 86_400
_MIN_ACTIVE_SECONDS = 30 * 86_400
_MAX_ACTIVE_SECONDS = 3 * 365 * 86_400

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_COMPLETE_MARKER = "stats.json"


@dataclass
class SyntheticSpec:
    """Parameters of a synthetic data set; every field has a default.

    Args:
        num_users: Number of users; every user appears in the ``.inter`` file (ids ``0..num_users-1``).
        num_items: Number of items: rows of every feature matrix, and ``max(itemID) + 1`` in the
            ``.inter`` file (item ``num_items - 1`` is guaranteed to have a training interaction).
        latent_dim: Dimension ``d`` of the hidden user and item vectors that drive preferences.
        mean_interactions_per_user: Mean user activity; activity is ``5 + round(lognormal)``, so this
            must be at least 5.
        popularity_exponent: Exponent ``s`` of the Zipf-like popularity ``rank ** -s``: 0 means
            uniform popularity, larger values a stronger long tail.
        preference_strength: Weight of the latent affinity against popularity in the choice
            probability ``popularity * exp(preference_strength * affinity)``; 0 means pure popularity.
        cold_item_fraction: Fraction of items that never get an interaction (no row anywhere).
        new_item_fraction: Fraction of items whose interactions all go to the test split (items
            never seen in training that users do interact with: the N = 0 rows of the item
            cold-start report). 0 leaves the data set (and its cache key) as without the option.
        modalities: Modality name -> feature dimension; one ``<name>_feat.npy`` per entry.
        feature_noise: Standard deviation of the feature noise relative to the noiseless signal.
        seed: Seed of every random draw.
        name: Data set name: the ``.inter`` file is ``<name>.inter``.
    """

    num_users: int = 2000
    num_items: int = 1500
    latent_dim: int = 16
    mean_interactions_per_user: float = 25.0
    popularity_exponent: float = 0.7
    preference_strength: float = 2.0
    cold_item_fraction: float = 0.01
    new_item_fraction: float = 0.0
    modalities: dict[str, int] = field(default_factory=lambda: {"image": 128, "text": 64})
    feature_noise: float = 0.5
    seed: int = 2024
    name: str = "synthetic"

    def __post_init__(self) -> None:
        """Reject specs that cannot produce a valid MMRec data set."""
        if self.num_users < 1:
            raise ValueError(f"num_users must be >= 1, got {self.num_users}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if self.mean_interactions_per_user < MIN_INTERACTIONS_PER_USER:
            raise ValueError(
                f"mean_interactions_per_user must be >= {MIN_INTERACTIONS_PER_USER}, "
                f"got {self.mean_interactions_per_user}"
            )
        if self.popularity_exponent < 0 or self.preference_strength < 0 or self.feature_noise < 0:
            raise ValueError("popularity_exponent, preference_strength and feature_noise must be >= 0")
        if not 0 <= self.cold_item_fraction < 1:
            raise ValueError(f"cold_item_fraction must be in [0, 1), got {self.cold_item_fraction}")
        if not 0 <= self.new_item_fraction < 1:
            raise ValueError(f"new_item_fraction must be in [0, 1), got {self.new_item_fraction}")
        if self.num_items - _num_cold_items(self) - _num_new_items(self) < 2 * _SMALL_USER_THRESHOLD:
            raise ValueError(f"need at least {2 * _SMALL_USER_THRESHOLD} items that can be interacted with")
        if not _SAFE_NAME.match(self.name):
            raise ValueError(f"name must match {_SAFE_NAME.pattern}, got {self.name!r}")
        for modality, dim in self.modalities.items():
            if not _SAFE_NAME.match(modality) or dim < 1:
                raise ValueError(f"bad modality {modality!r}: {dim} (need a plain name and a dim >= 1)")


#: Feature widths of the processed TikTok release (MMSSL / LATTICE / MICRO's copy), as
#: ``python -m lit_mmrec.prepare tiktok`` writes them: image 128-d, text 768-d, audio 128-d.
TIKTOK_MODALITIES = {"image": 128, "text": 768, "audio": 128}


def tiktok_shaped(num_users: int = 120, num_items: int = 80, **fields: Any) -> SyntheticSpec:
    """A generated data set laid out like a prepared TikTok folder, small enough to train in seconds.

    ``tiktok.inter`` plus ``image_feat.npy`` (128-d), ``text_feat.npy`` (768-d) and ``audio_feat.npy``
    (128-d): ``configs/tiktok/*.yaml`` run on it unchanged but for ``--data.init_args.data_dir``, the folder
    :func:`ensure_synthetic` returns. ``fields`` set any other :class:`SyntheticSpec` field.
    """
    fields.setdefault("mean_interactions_per_user", 12.0)
    return SyntheticSpec(
        num_users=num_users, num_items=num_items, modalities=dict(TIKTOK_MODALITIES), name="tiktok", **fields
    )


def spec_hash(spec: SyntheticSpec) -> str:
    """Short, stable hash of a spec and the generator version (used to key caches)."""
    fields = asdict(spec)
    if fields["new_item_fraction"] == 0:  # the option's default: keep the cache keys it had before it existed
        del fields["new_item_fraction"]
    payload = json.dumps({"generator_version": GENERATOR_VERSION, **fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """Root of lit-mmrec's caches: ``$LIT_MMREC_CACHE`` if set, else ``~/.cache/lit_mmrec``."""
    env = os.environ.get("LIT_MMREC_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "lit_mmrec"


def ensure_synthetic(spec: SyntheticSpec, cache_dir: str | Path | None = None) -> Path:
    """Return ``<cache_dir>/synthetic/<name>-<spec hash>``, generating the data set there if absent.

    Args:
        spec: What to generate.
        cache_dir: Cache root; :func:`default_cache_dir` when ``None``.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return generate_synthetic(spec, root / "synthetic" / f"{spec.name}-{spec_hash(spec)}")


def generate_synthetic(spec: SyntheticSpec, out_dir: str | Path) -> Path:
    """Generate the data set described by ``spec`` into ``out_dir`` and return ``out_dir``.

    Writes ``<name>.inter``, one ``<modality>_feat.npy`` (float32 ``[num_items, dim]``) per modality
    and ``stats.json``. The folder appears atomically: everything is written into a temporary sibling
    folder that is then renamed into place. A folder that already holds ``stats.json`` is complete
    and returned untouched (also when another process finished it while this one was generating).

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty and is not a complete data set.
    """
    out_dir = Path(out_dir)
    if (out_dir / _COMPLETE_MARKER).is_file():
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} exists, is not empty and holds no {_COMPLETE_MARKER}")
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    data = _simulate(spec)
    # A plain mkdir (not tempfile.mkdtemp, which makes it private) so the folder honours the umask.
    tmp_dir = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp_dir.mkdir()
    try:
        _write(spec, data, tmp_dir)
        try:
            os.replace(tmp_dir, out_dir)
        except OSError as error:
            # Another process published the folder first: keep theirs (it is identical).
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST) and (out_dir / _COMPLETE_MARKER).is_file():
                return out_dir
            raise
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir


@dataclass
class _Simulated:
    """In-memory result of :func:`_simulate`; interaction arrays are aligned, sorted by user then time."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    labels: np.ndarray
    features: dict[str, np.ndarray]


def _num_cold_items(spec: SyntheticSpec) -> int:
    """Number of items deliberately left without interactions."""
    return int(round(spec.cold_item_fraction * spec.num_items))


def _num_new_items(spec: SyntheticSpec) -> int:
    """Number of items whose interactions all go to test."""
    return int(round(spec.new_item_fraction * spec.num_items))


def _rng(spec: SyntheticSpec, *stream: int) -> np.random.Generator:
    """Independent random stream ``stream`` of the spec's seed (so adding one draw shifts no other)."""
    return np.random.default_rng([spec.seed, *stream])


def _simulate(spec: SyntheticSpec) -> _Simulated:
    """Draw latents, interactions, split, timestamps and features for ``spec``."""
    num_users, num_items, dim = spec.num_users, spec.num_items, spec.latent_dim
    latent_rng = _rng(spec, 0)
    user_latent = latent_rng.standard_normal((num_users, dim))
    item_latent = latent_rng.standard_normal((num_items, dim))

    item_rng = _rng(spec, 1)
    popularity_rank = item_rng.permutation(num_items) + 1
    log_popularity = -spec.popularity_exponent * np.log(popularity_rank)
    cold = np.zeros(num_items, dtype=bool)
    cold[item_rng.choice(num_items, size=_num_cold_items(spec), replace=False)] = True

    counts = _user_activity(spec, max_count=max(MIN_INTERACTIONS_PER_USER, int((~cold).sum()) // 2))
    users, items = _sample_interactions(
        user_latent, item_latent, log_popularity, cold, counts, spec.preference_strength, _rng(spec, 3)
    )
    labels = _split_labels(users, counts, _rng(spec, 4))

    # MMRec takes n_items = max(itemID) + 1 from the file: make sure the last id has a training row by
    # swapping its identity (latent vector, hence features) with the first item that has one.
    last = num_items - 1
    if not np.any((items == last) & (labels == 0)):
        swap = int(np.flatnonzero(np.bincount(items[labels == 0], minlength=num_items))[0])
        items = np.where(items == swap, last, np.where(items == last, swap, items))
        item_latent[[swap, last]] = item_latent[[last, swap]]

    labels = _hold_out_new_items(spec, items, labels)
    users, items, labels, timestamps = _assign_timestamps(users, items, labels, counts, _rng(spec, 5))
    features = {
        modality: _modal_features(item_latent, feature_dim, spec.feature_noise, _modality_rng(spec, modality))
        for modality, feature_dim in spec.modalities.items()
    }
    return _Simulated(users, items, timestamps, labels, features)


def _user_activity(spec: SyntheticSpec, max_count: int) -> np.ndarray:
    """Interactions per user: ``5 + round(LogNormal)`` with the spec's mean, capped at ``max_count``."""
    rng = _rng(spec, 2)
    extra_mean = spec.mean_interactions_per_user - MIN_INTERACTIONS_PER_USER
    if extra_mean <= 0:
        extra = np.zeros(spec.num_users)
    else:
        log_mean = math.log(extra_mean) - _ACTIVITY_LOG_STD**2 / 2
        extra = rng.lognormal(log_mean, _ACTIVITY_LOG_STD, size=spec.num_users)
    return np.minimum(MIN_INTERACTIONS_PER_USER + np.rint(extra).astype(np.int64), max_count)


def _sample_interactions(
    user_latent: np.ndarray,
    item_latent: np.ndarray,
    log_popularity: np.ndarray,
    cold: np.ndarray,
    counts: np.ndarray,
    preference_strength: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per user ``u``, draw ``counts[u]`` distinct items with probability ``∝ exp(logit_ui)``.

    Gumbel-top-k: the ``k`` largest of ``logit_ui + Gumbel`` are an exact sample without replacement.
    Gumbel noise is drawn as ``-log(Exp(1))``.

    Returns:
        ``(users, items)``, int64 arrays of length ``counts.sum()``, grouped by user.
    """
    num_users, num_items = user_latent.shape[0], item_latent.shape[0]
    # float32 halves the memory traffic of the (users x items) keys, the bulk of the work.
    scale = preference_strength / math.sqrt(user_latent.shape[1])
    user_scaled = (scale * user_latent).astype(np.float32)
    item_t = np.ascontiguousarray(item_latent.T, dtype=np.float32)
    log_popularity = log_popularity.astype(np.float32)
    chunk = max(1, _CHUNK_ELEMENTS // num_items)
    users_out, items_out = [], []
    for start in range(0, num_users, chunk):
        stop = min(start + chunk, num_users)
        keys = user_scaled[start:stop] @ item_t
        keys += log_popularity
        noise = rng.standard_exponential(keys.shape, dtype=np.float32)
        with np.errstate(divide="ignore"):  # an exponential draw of exactly 0 gives key +inf: fine
            np.log(noise, out=noise)
        keys -= noise
        keys[:, cold] = -np.inf
        k = counts[start:stop]
        k_max = int(k.max())
        top = np.argpartition(keys, num_items - k_max, axis=1)[:, num_items - k_max :]
        order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        keep = np.arange(k_max) < k[:, None]
        users_out.append(np.broadcast_to(np.arange(start, stop)[:, None], top.shape)[keep])
        items_out.append(top[keep])
    return np.concatenate(users_out).astype(np.int64), np.concatenate(items_out).astype(np.int64)


def _split_labels(users: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MMRec's per-user split: 0 train, 1 valid, 2 test for interactions grouped by user.

    Per user (shuffled): fewer than 10 interactions -> ``n-2`` train, 1 valid, 1 test; otherwise
    ``int(0.2 n)`` go to valid+test, valid gets half rounded down, test the rest.
    """
    num_eval = np.where(counts < _SMALL_USER_THRESHOLD, 2, counts // 5)  # counts // 5 == int(0.2 * n)
    num_valid = np.where(counts < _SMALL_USER_THRESHOLD, 1, num_eval // 2)
    num_train = counts - num_eval

    order = np.lexsort((rng.random(users.size), users))
    user_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(users.size, dtype=np.int64)
    rank[order] = np.arange(users.size) - user_start[users[order]]
    labels = np.full(users.size, 2, dtype=np.int64)
    labels[rank < num_train[users] + num_valid[users]] = 1
    labels[rank < num_train[users]] = 0
    return labels


def _hold_out_new_items(spec: SyntheticSpec, items: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels with every row of ``spec.new_item_fraction`` of the items turned into a test row (2).

    The new items are drawn (stream 7) among the items with interactions, except the last id, whose
    training row keeps MMRec's ``n_items = max(itemID) + 1`` equal to ``num_items``.
    """
    count = _num_new_items(spec)
    if count == 0:
        return labels
    candidates = np.setdiff1d(np.unique(items), [spec.num_items - 1])
    if candidates.size < count:
        raise ValueError(f"new_item_fraction asks for {count} new items, only {candidates.size} have interactions")
    new = _rng(spec, 7).choice(candidates, size=count, replace=False)
    return np.where(np.isin(items, new), 2, labels)


def _assign_timestamps(
    users: np.ndarray, items: np.ndarray, labels: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Put each user's interactions in a random order and give them increasing Unix timestamps.

    A user becomes active at a random time in 2014-2017 and stays active for 1 month to 3 years; the
    interactions are uniform over that period. Returns ``(users, items, labels, timestamps)``
    reordered by user, then time. The split ignores time, as MMRec's random per-user split does.
    """
    order = np.lexsort((rng.random(users.size), users))
    users, items, labels = users[order], items[order], labels[order]
    user_first = rng.integers(_TIME_START, _TIME_START + _TIME_SPAN, size=counts.size)
    user_span = rng.uniform(_MIN_ACTIVE_SECONDS, _MAX_ACTIVE_SECONDS, size=counts.size)
    offsets = rng.random(users.size) * user_span[users]
    offsets = offsets[np.lexsort((offsets, users))]  # ascending within each user's block of rows
    user_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(users.size) - user_start[users]  # + rank keeps timestamps strictly increasing
    return users, items, labels, user_first[users] + np.floor(offsets).astype(np.int64) + rank


def _modality_rng(spec: SyntheticSpec, modality: str) -> np.random.Generator:
    """Random stream of one modality, keyed by its name (independent of the other modalities)."""
    return _rng(spec, 6, zlib.crc32(modality.encode()))


def _modal_features(
    item_latent: np.ndarray, feature_dim: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """One modality's view of the items: ``tanh(z A + c) B + noise``, float32 ``[num_items, feature_dim]``."""
    latent_dim = item_latent.shape[1]
    hidden = _FEATURE_HIDDEN_MULTIPLIER * latent_dim
    project_in = rng.standard_normal((latent_dim, hidden)) / math.sqrt(latent_dim)
    offset = 0.5 * rng.standard_normal(hidden)
    project_out = rng.standard_normal((hidden, feature_dim)) / math.sqrt(hidden)
    hidden_view = np.tanh(item_latent @ project_in + offset).astype(np.float32)
    signal = hidden_view @ project_out.astype(np.float32)
    signal_std = float(signal.std(dtype=np.float64))
    signal += (noise * signal_std) * rng.standard_normal(signal.shape, dtype=np.float32)
    return signal


def _write(spec: SyntheticSpec, data: _Simulated, directory: Path) -> None:
    """Write the MMRec files and ``stats.json`` (last, as the completeness marker) into ``directory``."""
    columns = np.stack(
        [data.users, data.items, np.ones_like(data.users), data.timestamps, data.labels], axis=1
    )
    with open(directory / f"{spec.name}.inter", "w", encoding="utf-8", newline="\n") as handle:
        handle.write(INTER_HEADER + "\n")
        np.savetxt(handle, columns, fmt="%d", delimiter="\t")
    for modality, features in data.features.items():
        np.save(directory / f"{modality}_feat.npy", features)

    item_counts = np.bincount(data.items, minlength=spec.num_items)
    train_item_counts = np.bincount(data.items[data.labels == 0], minlength=spec.num_items)
    top_decile = np.sort(item_counts)[::-1][: max(1, spec.num_items // 10)]
    split_counts = np.bincount(data.labels, minlength=3)
    stats: dict[str, Any] = {
        "name": spec.name,
        "users": spec.num_users,
        "items": spec.num_items,
        "interactions": int(data.users.size),
        "train": int(split_counts[0]),
        "valid": int(split_counts[1]),
        "test": int(split_counts[2]),
        "density": data.users.size / (spec.num_users * spec.num_items),
        "items_without_interactions": int((item_counts == 0).sum()),
        "items_without_train_interactions": int((train_item_counts == 0).sum()),
        "top_10pct_items_interaction_share": float(top_decile.sum() / data.users.size),
        "modalities": dict(spec.modalities),
        "generator_version": GENERATOR_VERSION,
        "spec_hash": spec_hash(spec),
        "spec": asdict(spec),
    }
    (directory / _COMPLETE_MARKER).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
