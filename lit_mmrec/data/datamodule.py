"""LightningDataModule over a data set in the MMRec layout."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lit_mmrec.data.loader import DataFormatError, MMRecDataset, load_mmrec_dataset
from lit_mmrec.data.pairs import UserItemIndex
from lit_mmrec.data.sampling import BPRTrainLoader, UserChunkLoader
from lit_mmrec.data.synthetic import SyntheticSpec, ensure_synthetic


class MMRecDataModule(L.LightningDataModule):
    """Multimodal interactions + item features, read from one MMRec-layout folder.

    The data set is loaded on first access of :attr:`dataset` (which happens when
    LightningCLI links ``num_users``, ``num_items`` and ``feature_dims`` into the model,
    right after this module is instantiated and before ``setup``: see Lightning issue
    #17275), so those attributes are valid as soon as the object exists.

    Args:
        data_dir: folder holding ``<name>.inter`` and ``<modality>_feat.npy`` files.
        dataset: the ``.inter`` file's stem; None when the folder holds exactly one.
        modalities: modalities to load (e.g. ``[image, text]``); None loads every ``*_feat.npy`` found.
        batch_size: training interactions per batch (per device under DDP), MMRec's default 2048.
        eval_chunk_size: users ranked together at evaluation; bounds memory at ``chunk x num_items`` scores.
        seed: seed of the per-epoch shuffling and negative sampling (epoch ``e`` uses ``seed`` and ``e``).
    """

    def __init__(
        self,
        data_dir: str,
        dataset: str | None = None,
        modalities: list[str] | None = None,
        batch_size: int = 2048,
        eval_chunk_size: int = 2048,
        seed: int = 999,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or eval_chunk_size <= 0:
            raise ValueError(f"batch_size and eval_chunk_size must be positive, got {batch_size}, {eval_chunk_size}")
        self.data_dir = data_dir
        self.dataset_name = dataset
        self.modalities = modalities
        self.batch_size = batch_size
        self.eval_chunk_size = eval_chunk_size
        self.seed = seed
        self._dataset: MMRecDataset | None = None
        self._fingerprint: dict[str, Any] | None = None

    def _data_folder(self) -> Path:
        """Where the data set lives; subclasses that generate data override this."""
        return Path(self.data_dir).expanduser()

    @property
    def dataset(self) -> MMRecDataset:
        if self._dataset is None:
            self._dataset = load_mmrec_dataset(self._data_folder(), self.dataset_name, self.modalities)
        return self._dataset

    @property
    def num_users(self) -> int:
        return self.dataset.num_users

    @property
    def num_items(self) -> int:
        return self.dataset.num_items

    @property
    def feature_dims(self) -> dict[str, int]:
        return self.dataset.feature_dims

    @property
    def item_features(self) -> dict[str, torch.Tensor]:
        return self.dataset.item_features

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What the data set is, cheaply: :func:`data_fingerprint` of :attr:`dataset` (computed once)."""
        if self._fingerprint is None:
            self._fingerprint = data_fingerprint(self.dataset)
        return self._fingerprint

    def state_dict(self) -> dict[str, Any]:
        """Kept in every checkpoint: the data's :attr:`fingerprint`, which resuming, testing and predicting
        compare with the data they are given (``train.py --data_changed_ok``)."""
        return {"fingerprint": self.fingerprint}

    def prepare_data(self) -> None:
        self._data_folder()

    def setup(self, stage: str) -> None:
        """Load (and validate) the data now rather than in the first dataloader call, and refuse a split the
        stage evaluates on when it holds no rows: ``fit`` and ``validate`` need validation rows (the best
        checkpoint and the stopping rule are chosen on them), ``test`` needs test rows."""
        self.dataset  # noqa: B018
        needed = {"fit": "valid", "validate": "valid", "test": "test"}.get(stage)
        if needed is not None:
            self.require_rows(needed)

    def require_rows(self, split: str) -> None:
        """Raise :class:`DataFormatError` naming the interaction file when ``split`` holds no rows."""
        if len(self.dataset.split(split)) == 0:
            label = {"train": 0, "valid": 1, "test": 2}[split]
            folder = self.dataset.folder if self.dataset.folder is not None else self._data_folder()
            path = Path(folder) / f"{self.dataset.name}.inter"
            purpose = "the best checkpoint and the stopping rule are chosen" if split == "valid" else "testing ranks"
            raise DataFormatError(
                f"{path}: no {'validation' if split == 'valid' else split} rows (x_label {label}) of users with "
                f"training rows; {purpose} on them"
            )

    def split_index(self, split: str) -> UserItemIndex:
        """Per-user item sets of ``split`` (``train``, ``valid`` or ``test``)."""
        part = self.dataset.split(split)
        return UserItemIndex(part.users, part.items, self.num_users, self.num_items)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> BPRTrainLoader:
        rank, world_size = self._rank()
        train = self.dataset.train
        return BPRTrainLoader(
            train.users, train.items, self.num_items, self.batch_size, self.seed, rank=rank, world_size=world_size
        )

    def _users_loader(self, split: str) -> UserChunkLoader:
        rank, world_size = self._rank()
        users = torch.unique(self.dataset.split(split).users)
        return UserChunkLoader(users, self.eval_chunk_size, rank=rank, world_size=world_size)

    def val_dataloader(self) -> UserChunkLoader:
        return self._users_loader("valid")

    def test_dataloader(self) -> UserChunkLoader:
        return self._users_loader("test")

    def predict_dataloader(self) -> UserChunkLoader:
        """Every user with at least one training interaction."""
        rank, world_size = self._rank()
        users = torch.unique(self.dataset.train.users)
        return UserChunkLoader(users, self.eval_chunk_size, rank=rank, world_size=world_size)


def _digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of the tensors' bytes (contiguous, on the CPU), in order."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def data_fingerprint(dataset: MMRecDataset) -> dict[str, Any]:
    """What a checkpoint was trained on, as loaded: the data set's name and sizes, each split's row count and
    SHA-256 of its (user, item) pairs, each modality's feature shape and SHA-256 of its values. Hashing the
    loaded tensors (not the files) makes a fingerprint depend on the data only, not on its file's formatting;
    it costs one pass over the data at setup."""
    return {
        "dataset": dataset.name,
        "num_users": int(dataset.num_users),
        "num_items": int(dataset.num_items),
        "splits": {
            name: {"rows": len(part), "sha256": _digest(part.users, part.items)}
            for name in ("train", "valid", "test")
            for part in [dataset.split(name)]
        },
        "features": {
            modality: {"shape": list(features.shape), "sha256": _digest(features)}
            for modality, features in sorted(dataset.item_features.items())
        },
    }


def fingerprint_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two :func:`data_fingerprint` values, one short phrase each."""
    differences = [
        f"{key} {stored.get(key)} -> {current.get(key)}"
        for key in ("dataset", "num_users", "num_items")
        if stored.get(key) != current.get(key)
    ]
    for group, noun in (("splits", "split"), ("features", "modality")):
        old, new = stored.get(group) or {}, current.get(group) or {}
        for name in sorted(set(old) | set(new)):
            if name not in new:
                differences.append(f"{noun} {name} missing")
            elif name not in old:
                differences.append(f"{noun} {name} added")
            elif old[name] != new[name]:
                size = "rows" if group == "splits" else "shape"
                changed = (f"{old[name].get(size)} -> {new[name].get(size)} {size}"
                           if old[name].get(size) != new[name].get(size) else "same size, other content")
                differences.append(f"{noun} {name} ({changed})")
    return differences


class SyntheticDataModule(MMRecDataModule):
    """A generated multimodal data set (:mod:`lit_mmrec.data.synthetic`), written in the MMRec
    layout into a cache folder on first use and read back like any other data set.

    Args:
        spec: what to generate (users, items, modalities and their widths, seed, ...).
        cache_dir: where generated data sets live; default ``$LIT_MMREC_CACHE`` or ``~/.cache/lit_mmrec``.
        batch_size: training interactions per batch (per device).
        eval_chunk_size: users ranked together at evaluation.
        seed: seed of the per-epoch shuffling and negative sampling.
    """

    def __init__(
        self,
        spec: SyntheticSpec | None = None,
        cache_dir: str | None = None,
        batch_size: int = 2048,
        eval_chunk_size: int = 2048,
        seed: int = 999,
    ) -> None:
        self.spec = spec if spec is not None else SyntheticSpec()
        self.cache_dir = cache_dir
        super().__init__(
            data_dir="", dataset=self.spec.name, batch_size=batch_size, eval_chunk_size=eval_chunk_size, seed=seed
        )

    def _data_folder(self) -> Path:
        return ensure_synthetic(self.spec, self.cache_dir)
