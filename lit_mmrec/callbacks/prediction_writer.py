"""Top-K recommendations out of ``train.py predict``, streamed to CSV and/or JSON-lines.

``python train.py predict --config <config> --ckpt_path <checkpoint>`` ranks every item for every
user with training interactions, chunk by chunk (``--data.init_args.eval_chunk_size`` users at a
time), and :class:`TopKWriter` appends each chunk to the output as it comes: neither the scores
nor the recommendations of all users are ever held in memory.

Files (``<output_dir>/top<K>.csv``, ``<output_dir>/top<K>.jsonl``):

- CSV, one row per recommendation: ``user,rank,item,score`` (rank 1 = best);
- JSON-lines, one line per user: ``{"user": ..., "items": [...], "scores": [...]}``.

Users appear in ascending internal id order. When the data folder holds MMRec's id mapping files
(``u_id_mapping.csv`` / ``i_id_mapping.csv``, or ``.tsv``: tab-separated, one column ``userID`` /
``itemID`` with the internal id and one with the original id), users and items are written with
their original ids.

Under DDP each rank ranks a disjoint, contiguous block of users and writes its own part file;
with ``merge: true`` (default) rank 0 then concatenates the parts, in rank order, into the final
file (which needs a folder every rank can see, as any multi-node checkpointing does); with
``merge: false`` the per-rank files ``top<K>.rank<R>.<ext>`` are left as they are.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from lit_mmrec.data.loader import SPLITS, DataFormatError
from lit_mmrec.errors import check_integer

FORMATS = ("csv", "jsonl")
MAPPING_FILES = {"user": ("u_id_mapping", "userID"), "item": ("i_id_mapping", "itemID")}


def read_id_mapping(folder: Path, kind: str, count: int) -> list[str] | None:
    """Original ids of internal ids ``0 .. count - 1`` from ``folder``'s mapping file, or None if there is none.

    Args:
        folder: the data folder.
        kind: ``user`` or ``item``.
        count: number of internal ids; every one of them must be mapped exactly once.
    """
    stem, internal = MAPPING_FILES[kind]
    path = next((folder / f"{stem}{suffix}" for suffix in (".csv", ".tsv") if (folder / f"{stem}{suffix}").is_file()), None)
    if path is None:
        return None
    try:
        return _read_id_mapping(path, internal, kind, count)
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{path}: not UTF-8 text ({error.reason}); save the file as UTF-8") from None


def _read_id_mapping(path: Path, internal: str, kind: str, count: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, [])
        if internal not in header or len(header) < 2:
            raise DataFormatError(
                f"{path}, line 1: expected a tab-separated header with column {internal!r} and an original-id "
                f"column, got {header}"
            )
        column = header.index(internal)
        original = next(i for i in range(len(header)) if i != column)
        ids: list[str | None] = [None] * count
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                index = int(row[column])
                value = row[original]
            except (ValueError, IndexError):
                raise DataFormatError(
                    f"{path}, line {line}: expected an integer {internal} and an original id, got {row}"
                ) from None
            if not 0 <= index < count:
                raise DataFormatError(f"{path}, line {line}: {internal} {index} is outside the data set's 0..{count - 1}")
            if ids[index] is not None:
                raise DataFormatError(f"{path}, line {line}: {internal} {index} is mapped twice")
            ids[index] = value
    missing = [i for i, value in enumerate(ids) if value is None]
    if missing:
        raise DataFormatError(f"{path}: no original id for {len(missing)} {kind}(s), e.g. {internal} {missing[0]}")
    return ids  # type: ignore[return-value]


class TopKWriter(BasePredictionWriter):
    """Writes every user's top-K items during ``train.py predict`` (configured as ``--predictions.*``).

    Args:
        k: items recommended per user.
        output_dir: folder of the output files; None (default) is ``predictions/<experiment>``.
        formats: any of ``csv`` (``user,rank,item,score``, one row per recommendation) and ``jsonl``
            (``{"user", "items", "scores"}``, one line per user). Default ``[csv]``.
        exclude: splits whose items are never recommended to their user. Default ``[train]``: what the
            evaluation protocol ranks (validation/test items are the ones to be found). Use
            ``[train, valid, test]`` to recommend only items a user has never interacted with.
        original_ids: write the original user/item ids of the data folder's ``u_id_mapping`` /
            ``i_id_mapping`` files when they exist (internal ids otherwise).
        merge: under DDP, rank 0 concatenates the per-rank parts into one file (needs a folder shared by
            all ranks); false leaves one file per rank.
    """

    def __init__(
        self,
        k: int = 20,
        output_dir: str | None = None,
        formats: list[str] | None = None,
        exclude: list[str] | None = None,
        original_ids: bool = True,
        merge: bool = True,
    ) -> None:
        super().__init__(write_interval="batch")
        formats = ["csv"] if formats is None else list(formats)
        exclude = ["train"] if exclude is None else list(exclude)
        check_integer("predictions", "k", k, 1)
        if output_dir is not None and not str(output_dir).strip():
            raise ValueError("predictions: output_dir is empty (leave it out for predictions/<experiment>)")
        if not formats or any(f not in FORMATS for f in formats):
            raise ValueError(f"predictions: formats must be a non-empty subset of {list(FORMATS)}, got {formats}")
        if any(s not in SPLITS for s in exclude):
            raise ValueError(f"predictions: exclude must be a subset of {list(SPLITS)}, got {exclude}")
        self.k = k
        self.output_dir = output_dir
        self.formats = list(dict.fromkeys(formats))
        self.exclude = tuple(dict.fromkeys(exclude))
        self.original_ids = original_ids
        self.merge = merge
        self._files: dict[str, TextIO] = {}
        self._user_ids: list[str] | None = None
        self._item_ids: list[str] | None = None
        self.paths: dict[str, Path] = {}

    # ---------------------------------------------------------------- paths
    def folder(self) -> Path:
        return Path(self.output_dir if self.output_dir is not None else "predictions")

    def final_path(self, fmt: str) -> Path:
        return self.folder() / f"top{self.k}.{fmt}"

    def part_path(self, fmt: str, rank: int) -> Path:
        return self.folder() / f"top{self.k}.rank{rank:05d}.{fmt}"

    # ---------------------------------------------------------------- hooks
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.predict_k = self.k
        pl_module.predict_exclude = self.exclude
        dataset = trainer.datamodule.dataset
        if self.original_ids and dataset.folder is not None:
            self._user_ids = read_id_mapping(Path(dataset.folder), "user", dataset.num_users)
            self._item_ids = read_id_mapping(Path(dataset.folder), "item", dataset.num_items)
        self.folder().mkdir(parents=True, exist_ok=True)
        rank = trainer.global_rank
        self.paths = {}
        for fmt in self.formats:
            path = self.part_path(fmt, rank)
            self._files[fmt] = open(path, "w", encoding="utf-8", newline="")
            if fmt == "csv" and not (self.merge and trainer.world_size > 1):
                self._files[fmt].write("user,rank,item,score\n")
            self.paths[fmt] = path

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: dict[str, torch.Tensor],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        users = prediction["users"].tolist()
        items = prediction["items"].tolist()
        scores = prediction["scores"].float().tolist()
        for user, user_items, user_scores in zip(users, items, scores, strict=True):
            # excluded items score -inf and only surface when fewer than k others exist: drop them
            kept = [(i, s) for i, s in zip(user_items, user_scores, strict=True) if s != -math.inf]
            self._write_user(self._name(self._user_ids, user), kept)

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}
        if trainer.world_size == 1:
            for fmt in self.formats:
                os.replace(self.part_path(fmt, 0), self.final_path(fmt))
                self.paths[fmt] = self.final_path(fmt)
            return
        if not self.merge:
            return
        trainer.strategy.barrier("lit_mmrec.predictions.written")
        if trainer.is_global_zero:
            for fmt in self.formats:
                self._merge(fmt, trainer.world_size)
        trainer.strategy.barrier("lit_mmrec.predictions.merged")
        self.paths = {fmt: self.final_path(fmt) for fmt in self.formats}

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        for handle in self._files.values():
            handle.close()
        self._files = {}

    # --------------------------------------------------------------- writing
    @staticmethod
    def _name(ids: list[str] | None, index: int) -> str | int:
        return ids[index] if ids is not None else index

    def _write_user(self, user: str | int, kept: list[tuple[int, float]]) -> None:
        names = [self._name(self._item_ids, item) for item, _ in kept]
        scores = [float(f"{score:.7g}") for _, score in kept]
        if "csv" in self._files:
            ranked = enumerate(zip(names, scores, strict=True), start=1)
            rows = ((user, rank, name, score) for rank, (name, score) in ranked)
            csv.writer(self._files["csv"], lineterminator="\n").writerows(rows)
        if "jsonl" in self._files:
            self._files["jsonl"].write(json.dumps({"user": user, "items": names, "scores": scores}) + "\n")

    def _merge(self, fmt: str, world_size: int) -> None:
        final = self.final_path(fmt)
        temporary = final.with_name(f".{final.name}.tmp")
        with open(temporary, "w", encoding="utf-8", newline="") as out:
            if fmt == "csv":
                out.write("user,rank,item,score\n")
            for rank in range(world_size):
                part = self.part_path(fmt, rank)
                with open(part, encoding="utf-8", newline="") as handle:
                    shutil.copyfileobj(handle, out)
        os.replace(temporary, final)
        for rank in range(world_size):
            self.part_path(fmt, rank).unlink()
