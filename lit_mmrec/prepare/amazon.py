"""Amazon product reviews (2014 and 2018 releases) -> MMRec layout with image and text features.

Inputs of one category (e.g. Baby), all read streaming, ``.gz`` or not:

- interactions: the ratings-only CSV (2014 ``ratings_<Category>.csv``: ``user,item,rating,timestamp``;
  2018 ``<Category>.csv``: ``item,user,rating,timestamp``; no header) or the 5-core review file
  (JSON lines with ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime``; both releases);
- metadata (``meta_<Category>.json[.gz]``): 2014 lines are Python dict literals (parsed with
  ``ast.literal_eval``), 2018 lines are JSON. Lines of products that are not kept are skipped on
  their ``asin`` without being parsed in full;
- image features (``image_features_<Category>.b``, see :mod:`lit_mmrec.prepare.image_features`).

Steps (MMRec's preprocessing): one row per (user, item), k-core, ids by first appearance, the
per-user split, ``image_feat.npy`` (mean vector for items without one, counted), ``text_feat.npy``
from ``title + brand + first category path + description`` (joined with spaces; MMRec's notebook
joins the same fields the same way, with a space more where a field is missing, which the
tokenizer ignores).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lit_mmrec.prepare.image_features import read_image_features
from lit_mmrec.prepare.interactions import (
    InteractionCollector,
    RawInteractions,
    SplitOrder,
    assign_ids,
    drop_duplicate_pairs,
    kcore_filter,
    mmrec_split,
)
from lit_mmrec.prepare.layout import PrepareResult, check_output_folder, write_layout
from lit_mmrec.prepare.readers import RawFormatError, iter_lines, parse_json_record, parse_literal_record
from lit_mmrec.prepare.text import TextEncoder, clean_text, encode_texts

log = logging.getLogger(__name__)

Release = Literal["2014", "2018"]
MissingMetadata = Literal["error", "drop", "empty"]
RELEASES = ("2014", "2018")
_REVIEW_KEYS = ("reviewerID", "asin", "overall", "unixReviewTime")
_ASIN_FIELD = re.compile(r"""["']asin["']\s*:\s*["']([^"']*)["']""")


# ---------------------------------------------------------------- interactions
def read_ratings_csv(path: str | Path, release: Release) -> RawInteractions:
    """Read a ratings-only CSV (2014: ``user,item,rating,timestamp``; 2018: ``item,user,rating,timestamp``)."""
    if release not in RELEASES:
        raise ValueError(f"release must be one of {RELEASES}, got {release!r}")
    user_column, item_column = (0, 1) if release == "2014" else (1, 0)
    collector = InteractionCollector(str(path))
    for number, line in iter_lines(path, description=f"ratings {Path(path).name}"):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 4:
            order = "user,item" if release == "2014" else "item,user"
            raise RawFormatError(
                f"{path}, line {number}: expected 4 comma-separated fields ({order},rating,timestamp), "
                f"got {len(fields)}: {line[:80]!r}"
            )
        try:
            rating, timestamp = float(fields[2]), int(float(fields[3]))
        except ValueError:
            raise RawFormatError(
                f"{path}, line {number}: rating and timestamp must be numbers, got {fields[2]!r} and {fields[3]!r}"
            ) from None
        collector.add(fields[user_column].strip(), fields[item_column].strip(), rating, timestamp, number)
    return collector.build()


def read_reviews(path: str | Path) -> RawInteractions:
    """Read a review file (JSON lines; ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime`` per line)."""
    collector = InteractionCollector(str(path))
    for number, line in iter_lines(path, description=f"reviews {Path(path).name}"):
        if not line.strip():
            continue
        record = parse_json_record(line, path, number)
        missing = [key for key in _REVIEW_KEYS if key not in record]
        if missing:
            raise RawFormatError(
                f"{path}, line {number}: review record lacks {missing} (has {sorted(record)[:8]})"
            )
        try:
            rating, timestamp = float(record["overall"]), int(record["unixReviewTime"])
        except (TypeError, ValueError):
            raise RawFormatError(
                f"{path}, line {number}: 'overall' and 'unixReviewTime' must be numbers, "
                f"got {record['overall']!r} and {record['unixReviewTime']!r}"
            ) from None
        collector.add(str(record["reviewerID"]), str(record["asin"]), rating, timestamp, number)
    return collector.build()


def read_amazon_interactions(path: str | Path, release: Release) -> RawInteractions:
    """Ratings CSV (name contains ``.csv``) or review JSON lines (name contains ``.json``)."""
    name = Path(path).name.lower()
    if ".csv" in name:
        return read_ratings_csv(path, release)
    if ".json" in name:
        return read_reviews(path)
    raise ValueError(
        f"{path}: cannot tell the format from the name; expected a ratings .csv or a review .json(l) file"
    )


# -------------------------------------------------------------------- metadata
def _text_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(_text_field(v) for v in value if v is not None).strip()
    return str(value).strip()


def item_text(record: dict[str, Any], release: Release) -> str:
    """``title brand category-path description`` of one metadata record (missing fields are skipped).

    2014: ``categories`` is a list of category paths, the first is used; ``description`` a string.
    2018: ``category`` is one path (a list of names); ``description`` a list of paragraphs.
    """
    if release == "2014":
        paths = record.get("categories") or []
        category = paths[0] if paths and isinstance(paths[0], list | tuple) else []
    else:
        category = record.get("category") or []
    parts = [_text_field(record.get("title")), _text_field(record.get("brand")), _text_field(category)]
    parts.append(_text_field(record.get("description")))
    return clean_text(" ".join(p for p in parts if p))


def read_metadata(path: str | Path, release: Release, wanted: set[str]) -> dict[str, str]:
    """ASIN -> item text for the ``wanted`` ASINs found in a metadata file (first record of an ASIN wins).

    A line whose ``asin`` field names an unwanted product is skipped without a full parse; any other
    line must parse (2014: Python literal, 2018: JSON) and hold an ``asin``.
    """
    parse = parse_literal_record if release == "2014" else parse_json_record
    texts: dict[str, str] = {}
    for number, line in iter_lines(path, description=f"metadata {Path(path).name}"):
        if not line.strip():
            continue
        match = _ASIN_FIELD.search(line)
        if match is not None and match.group(1) not in wanted:
            continue
        record = parse(line, path, number)
        asin = record.get("asin")
        if asin is None:
            raise RawFormatError(f"{path}, line {number}: metadata record has no 'asin' field")
        asin = str(asin)
        if asin in wanted and asin not in texts:
            texts[asin] = item_text(record, release)
    return texts


def _apply_metadata_policy(
    interactions: RawInteractions, texts: dict[str, str], metadata: Path, policy: MissingMetadata, kcore: int
) -> tuple[RawInteractions, int]:
    """Handle kept items without a metadata record; returns the rows and how many such items there were."""
    kept = interactions.kept_item_codes()
    missing = [code for code in kept.tolist() if interactions.item_names[code] not in texts]
    if not missing:
        return interactions, 0
    if policy == "error":
        first_line = interactions.first_line_of_item()
        code = missing[0]
        raise RawFormatError(
            f"{metadata}: unknown ASIN {interactions.item_names[code]!r}: the item (first rated in "
            f"{interactions.source}, line {first_line[code]}) has no metadata record; {len(missing)} of "
            f"{kept.size} kept items have none. Use the metadata file of the same category, or pass "
            f"--missing-metadata drop (drop those items, then redo the k-core) or empty (encode an empty text)"
        )
    if policy == "drop":
        drop = np.zeros(len(interactions.item_names), dtype=bool)
        drop[missing] = True
        interactions, _ = kcore_filter(interactions.subset(~drop[interactions.items]), kcore)
        if not len(interactions):
            raise RawFormatError(
                f"{metadata}: no interaction is left after dropping the items without metadata"
            )
    elif policy != "empty":
        raise ValueError(f"missing_metadata must be 'error', 'drop' or 'empty', got {policy!r}")
    return interactions, len(missing)


# -------------------------------------------------------------------- pipeline
def prepare_amazon(
    interactions: str | Path,
    output: str | Path,
    release: Release,
    metadata: str | Path | None = None,
    image_features: str | Path | None = None,
    name: str | None = None,
    kcore: int = 5,
    seed: int = 999,
    split_order: SplitOrder = "random",
    text_encoder: TextEncoder | None = None,
    text_model: str | None = None,
    missing_metadata: MissingMetadata = "error",
    overwrite: bool = False,
) -> PrepareResult:
    """Convert one Amazon category to an MMRec-layout folder.

    Args:
        interactions: ratings CSV or 5-core review JSON lines.
        output: output folder.
        release: ``"2014"`` or ``"2018"`` (column order of the ratings CSV, syntax of the metadata).
        metadata: product metadata; needed for text features.
        image_features: ``image_features_<Category>.b``; None writes no ``image_feat.npy``.
        name: data set name (``<name>.inter``); default: the output folder's name.
        kcore: k of the k-core filter (MMRec: 5; 0 or 1 keeps everything).
        seed: seed of the per-user split.
        split_order: ``"random"`` (MMRec) or ``"time"`` order of each user's rows before splitting.
        text_encoder: ``list[str] -> [n, d]``; with ``metadata``, writes ``text_feat.npy``.
        text_model: name of the encoder's model, recorded in ``prepare.json``.
        missing_metadata: what to do with kept items that have no metadata record: ``"error"``
            (default), ``"drop"`` them (then redo the k-core) or give them an ``"empty"`` text.
        overwrite: replace the files of an earlier run in ``output``.
    """
    output = Path(output)
    name = name or output.name
    with_text = text_encoder is not None and metadata is not None
    modalities = (["image"] if image_features is not None else []) + (["text"] if with_text else [])
    check_output_folder(output, name, modalities, with_text, overwrite)
    if text_encoder is not None and metadata is None:
        raise ValueError("text features need the metadata file (--metadata)")

    raw = read_amazon_interactions(interactions, release)
    if not len(raw):
        raise RawFormatError(f"{interactions}: no interactions")
    deduplicated, duplicates = drop_duplicate_pairs(raw)
    kept, rounds = kcore_filter(deduplicated, kcore)
    if not len(kept):
        raise RawFormatError(
            f"{interactions}: no interaction survives the {kcore}-core filter ({len(raw)} rows read)"
        )
    log.info(
        "%d rows, %d duplicates dropped, %d rows in the %d-core (%d rounds)",
        len(raw),
        duplicates,
        len(kept),
        kcore,
        rounds,
    )

    texts: dict[str, str] = {}
    without_metadata = 0
    if with_text:
        wanted = {kept.item_names[c] for c in kept.kept_item_codes().tolist()}
        texts = read_metadata(metadata, release, wanted)
        kept, without_metadata = _apply_metadata_policy(kept, texts, Path(metadata), missing_metadata, kcore)

    data = mmrec_split(assign_ids(kept, "appearance"), seed=seed, order=split_order)
    info: dict[str, Any] = {
        "source": f"amazon {release}",
        "inputs": {
            "interactions": str(interactions),
            "metadata": str(metadata) if metadata else None,
            "image_features": str(image_features) if image_features else None,
        },
        "raw_rows": len(raw),
        "duplicates_dropped": duplicates,
        "kcore": kcore,
        "kcore_rounds": rounds,
        "split": {"rule": "mmrec", "order": split_order, "seed": seed},
        "users": data.num_users,
        "items": data.num_items,
        "interactions": int(data.users.size),
    }

    features: dict[str, np.ndarray] = {}
    if image_features is not None:
        image = read_image_features(image_features, {asin: i for i, asin in enumerate(data.item_names)})
        features["image"] = image.matrix
        info["image"] = {
            "dim": int(image.matrix.shape[1]),
            "records_read": image.records,
            "items_mean_filled": image.missing,
            "duplicate_records": image.duplicates,
        }
        log.info(
            "image features: %d of %d items had no vector and got the mean vector",
            image.missing,
            data.num_items,
        )
    item_texts = None
    if with_text:
        item_texts = [texts.get(asin, "") for asin in data.item_names]
        features["text"] = encode_texts(item_texts, text_encoder)
        info["text"] = {
            "model": text_model,
            "dim": int(features["text"].shape[1]),
            "fields": "title brand categories[0] description",
            "items_without_metadata": without_metadata,
            "missing_metadata": missing_metadata,
        }
    write_layout(output, name, data, features, item_texts, item_column="asin", info=info, overwrite=overwrite)
    return PrepareResult(output, name, info)
