"""MovieLens (ml-100k, ml-1m) -> MMRec layout with a text modality.

Inputs, as GroupLens' zip files hold them (latin-1 text), given as the zip file or its unpacked folder:

- ml-100k: ``u.data`` (``user<TAB>item<TAB>rating<TAB>timestamp``), ``u.item``
  (``id|title|release date|video release date|IMDb URL|`` then 19 genre flags) and, optionally,
  ``u.genre`` (``name|index``; the standard 19 names are used when it is absent);
- ml-1m: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``) and ``movies.dat``
  (``MovieID::Title::Genre1|Genre2``).

Every rating is an implicit positive. The text of a movie is ``"<title> (<year>). Genres: <g1>, <g2>"``
(the year from the title, else from the release date). Ids are numbered by raw id (MovieLens user 1
becomes user 0).

``configs/ml100k/`` read ``data/ml100k`` as this command writes it (every rating, no k-core; each user's
latest ratings held out, ties by item id; all-MiniLM-L6-v2 text vectors)::

    python -m lit_mmrec.prepare movielens ml-100k.zip --kcore 0 --split-order time --out data/ml100k
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lit_mmrec.prepare.fetch import sha256, unpack_zip
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
from lit_mmrec.prepare.readers import RawFormatError, iter_lines
from lit_mmrec.prepare.text import TextEncoder, clean_text, encode_texts

log = logging.getLogger(__name__)

Variant = Literal["auto", "100k", "1m"]
ENCODING = "latin-1"
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def movie_text(title: str, genres: list[str], release_date: str = "") -> str:
    """``"<title> (<year>). Genres: <g1>, <g2>"``; the year from the title's trailing ``(YYYY)``, else the release date."""
    match = _TITLE_YEAR.match(title)
    if match:
        base, year = match.group(1), match.group(2)
    else:
        base, year = title.strip(), release_date.strip()[-4:]
        year = year if year.isdigit() else ""
    head = f"{base} ({year})" if year else base
    return clean_text(f"{head}. Genres: {', '.join(genres)}" if genres else f"{head}.")


def detect_variant(folder: Path) -> Literal["100k", "1m"]:
    """``"100k"`` when ``folder`` holds ``u.data``, ``"1m"`` when it holds ``ratings.dat``."""
    if (folder / "u.data").is_file():
        return "100k"
    if (folder / "ratings.dat").is_file():
        return "1m"
    raise FileNotFoundError(
        f"{folder} holds neither u.data (ml-100k) nor ratings.dat (ml-1m); point at the unpacked MovieLens folder"
    )


def release_folder(folder: Path) -> Path:
    """The folder under ``folder`` (itself or one level down, as GroupLens' zips hold ``ml-100k/``) with
    ``u.data`` or ``ratings.dat``."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "u.data").is_file() or (candidate / "ratings.dat").is_file():
            return candidate
    return folder  # detect_variant names what is missing


def _read_ratings(path: Path, separator: str, description: str) -> RawInteractions:
    collector = InteractionCollector(str(path))
    shown = "TAB" if separator == "\t" else separator
    for number, line in iter_lines(path, ENCODING, description):
        if not line.strip():
            continue
        fields = line.split(separator)
        if len(fields) != 4:
            raise RawFormatError(
                f"{path}, line {number}: expected 4 fields separated by {shown!r} (user, item, rating, timestamp), "
                f"got {len(fields)}: {line[:80]!r}"
            )
        user, item, rating, timestamp = (f.strip() for f in fields)
        if not (user.isdigit() and item.isdigit()):
            raise RawFormatError(
                f"{path}, line {number}: user and item ids must be integers, got {user!r} and {item!r}"
            )
        try:
            collector.add(user, item, float(rating), int(timestamp), number)
        except ValueError:
            raise RawFormatError(
                f"{path}, line {number}: rating and timestamp must be numbers, got {rating!r} and {timestamp!r}"
            ) from None
    return collector.build()


def _read_genre_names(folder: Path) -> list[str]:
    path = folder / "u.genre"
    if not path.is_file():
        return list(ML100K_GENRES)
    names: dict[int, str] = {}
    for number, line in iter_lines(path, ENCODING, "u.genre"):
        if not line.strip():
            continue
        name, _, index = line.rpartition("|")
        if not index.strip().isdigit():
            raise RawFormatError(f"{path}, line {number}: expected 'name|index', got {line!r}")
        names[int(index)] = name
    if sorted(names) != list(range(len(names))):
        raise RawFormatError(f"{path}: genre indices must run 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


def read_ml100k_items(folder: Path) -> dict[str, str]:
    """Movie id -> text, from ``u.item`` (and ``u.genre``)."""
    path = folder / "u.item"
    genres = _read_genre_names(folder)
    texts: dict[str, str] = {}
    for number, line in iter_lines(path, ENCODING, "u.item"):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5 + len(genres):
            raise RawFormatError(
                f"{path}, line {number}: expected {5 + len(genres)} '|'-separated fields (id, title, release date, "
                f"video release date, URL, {len(genres)} genre flags), got {len(fields)}"
            )
        flags = fields[5:]
        if any(f.strip() not in ("0", "1") for f in flags):
            raise RawFormatError(f"{path}, line {number}: genre flags must be 0 or 1, got {flags}")
        texts[fields[0].strip()] = movie_text(
            fields[1], [g for g, f in zip(genres, flags, strict=True) if f.strip() == "1"], fields[2]
        )
    return texts


def read_ml1m_items(folder: Path) -> dict[str, str]:
    """Movie id -> text, from ``movies.dat``."""
    path = folder / "movies.dat"
    texts: dict[str, str] = {}
    for number, line in iter_lines(path, ENCODING, "movies.dat"):
        if not line.strip():
            continue
        fields = line.split("::")
        if len(fields) != 3:
            raise RawFormatError(
                f"{path}, line {number}: expected 'MovieID::Title::Genres', got {line[:80]!r}"
            )
        genres = [g for g in fields[2].strip().split("|") if g]
        texts[fields[0].strip()] = movie_text(fields[1], genres)
    return texts


def read_movielens(
    folder: str | Path, variant: Variant = "auto"
) -> tuple[RawInteractions, dict[str, str], str]:
    """Read ratings and movie texts; returns ``(interactions, movie id -> text, variant)``."""
    folder = Path(folder)
    if variant == "auto":
        variant = detect_variant(folder)
    if variant == "100k":
        interactions = _read_ratings(folder / "u.data", "\t", "u.data")
        texts = read_ml100k_items(folder)
    elif variant == "1m":
        interactions = _read_ratings(folder / "ratings.dat", "::", "ratings.dat")
        texts = read_ml1m_items(folder)
    else:
        raise ValueError(f"variant must be 'auto', '100k' or '1m', got {variant!r}")
    unknown = [c for c in np.unique(interactions.items).tolist() if interactions.item_names[c] not in texts]
    if unknown:
        code = unknown[0]
        line = interactions.first_line_of_item()[code]
        items_file = "u.item" if variant == "100k" else "movies.dat"
        raise RawFormatError(
            f"{interactions.source}, line {line}: movie id {interactions.item_names[code]} is not in "
            f"{folder / items_file} ({len(unknown)} rated movies are missing there)"
        )
    return interactions, texts, variant


def prepare_movielens(
    raw: str | Path,
    output: str | Path,
    variant: Variant = "auto",
    name: str | None = None,
    kcore: int = 5,
    seed: int = 999,
    split_order: SplitOrder = "random",
    text_encoder: TextEncoder | None = None,
    text_model: str | None = None,
    overwrite: bool = False,
) -> PrepareResult:
    """Convert an unpacked MovieLens folder (ml-100k or ml-1m) to an MMRec-layout folder.

    Args:
        raw: the release: GroupLens' zip file (``ml-100k.zip``, ``ml-1m.zip``) or its unpacked folder.
        output: output folder.
        variant: ``"100k"``, ``"1m"`` or ``"auto"`` (from the files present).
        name: data set name; default: the output folder's name.
        kcore: k of the k-core (0 or 1 keeps every rating; ml-100k and ml-1m users already have >= 20).
        seed: seed of the per-user split.
        split_order: ``"random"`` (MMRec) or ``"time"`` (latest ratings to validation/test).
        text_encoder: ``list[str] -> [n, d]``; writes ``text_feat.npy`` and ``item_text.tsv``.
        text_model: name of the encoder's model, recorded in ``prepare.json``.
        overwrite: replace the files of an earlier run in ``output``.
    """
    output = Path(output)
    name = name or output.name
    with_text = text_encoder is not None
    check_output_folder(output, name, ["text"] if with_text else [], with_text, overwrite)
    raw = Path(raw)
    with contextlib.ExitStack() as stack:
        if raw.is_file():  # a zip file: unpacked into a temporary folder for reading
            unpacked = stack.enter_context(tempfile.TemporaryDirectory(prefix=".movielens-"))
            folder, inputs = release_folder(unpack_zip(raw, unpacked)), {"archive": str(raw), "sha256": sha256(raw)}
        else:
            folder, inputs = release_folder(raw), {"folder": str(raw)}
        raw_interactions, texts, variant = read_movielens(folder, variant)
    deduplicated, duplicates = drop_duplicate_pairs(raw_interactions)
    kept, rounds = kcore_filter(deduplicated, kcore)
    if not len(kept):
        raise RawFormatError(f"{raw}: no rating survives the {kcore}-core filter")
    data = mmrec_split(assign_ids(kept, "sorted"), seed=seed, order=split_order)
    info: dict[str, Any] = {
        "source": f"movielens ml-{variant}",
        "inputs": inputs,
        "raw_rows": len(raw_interactions),
        "duplicates_dropped": duplicates,
        "kcore": kcore,
        "kcore_rounds": rounds,
        "split": {"rule": "mmrec", "order": split_order, "seed": seed},
        "users": data.num_users,
        "items": data.num_items,
        "interactions": int(data.users.size),
    }
    features: dict[str, np.ndarray] = {}
    item_texts = None
    if with_text:
        item_texts = [texts[movie] for movie in data.item_names]
        features["text"] = encode_texts(item_texts, text_encoder)
        info["text"] = {
            "model": text_model,
            "dim": int(features["text"].shape[1]),
            "fields": "title (year). Genres: ...",
        }
    log.info("%s: %d users, %d items, %d interactions", name, data.num_users, data.num_items, data.users.size)
    write_layout(
        output, name, data, features, item_texts, item_column="item_id", info=info, overwrite=overwrite
    )
    return PrepareResult(output, name, info)
