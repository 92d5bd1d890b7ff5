"""Amazon's precomputed image features: ``image_features_<Category>.b`` -> ``image_feat.npy`` rows.

The file is a sequence of fixed-size records, each a 10-byte ASCII ASIN followed by 4096
little-endian float32 (a CNN feature of the product's image; McAuley et al., SIGIR 2015). It is read
in blocks of records with ``np.frombuffer``; only the records of the wanted items are kept. As in
MMRec's preprocessing, an item without a record gets the mean of the vectors found, and the number
of such items is reported.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from lit_mmrec.prepare.progress import progress_bar
from lit_mmrec.prepare.readers import RawFormatError, open_binary

ASIN_BYTES = 10
AMAZON_IMAGE_DIM = 4096


@dataclass
class ImageFeatures:
    """Feature rows of the wanted items.

    Attributes:
        matrix: float32 ``[num_items, dim]``; rows of items without a record hold the mean vector.
        found: bool ``[num_items]``, True where the file had a record for the item.
        records: records read from the file.
        duplicates: records of a wanted ASIN seen before (the first one is kept).
    """

    matrix: np.ndarray
    found: np.ndarray
    records: int
    duplicates: int

    @property
    def missing(self) -> int:
        """Items that got the mean vector."""
        return int((~self.found).sum())


def record_dtype(dim: int = AMAZON_IMAGE_DIM) -> np.dtype:
    """numpy layout of one record: 10 ASIN bytes then ``dim`` little-endian float32, no padding."""
    return np.dtype([("asin", f"S{ASIN_BYTES}"), ("vector", "<f4", (dim,))])


def _check_asin(raw: bytes, path: Path, index: int, offset: int) -> str:
    try:
        asin = raw.decode("ascii")
    except UnicodeDecodeError:
        asin = ""
    if len(asin) != ASIN_BYTES or not asin.isalnum():
        raise RawFormatError(
            f"{path}: record {index} (byte offset {offset}) does not start with a 10-character ASIN, "
            f"got bytes {raw!r}; expected records of a 10-byte ASIN + 4096 float32 (image_features_<Category>.b)"
        )
    return asin


def _read_up_to(stream: IO[bytes], count: int) -> bytes:
    """``count`` bytes, fewer only at the end of the stream (a single ``read`` may return less)."""
    parts, remaining = [], count
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def read_image_features(
    path: str | Path,
    wanted: dict[str, int],
    dim: int = AMAZON_IMAGE_DIM,
    block_records: int = 512,
) -> ImageFeatures:
    """Read the vectors of the ``wanted`` ASINs from an Amazon ``.b`` image-feature file.

    Args:
        path: the ``image_features_<Category>.b`` file (``.gz`` is decompressed on the fly).
        wanted: ASIN -> row of the output matrix (rows ``0..len(wanted)-1``).
        dim: floats per record (4096 in Amazon's releases).
        block_records: records read per ``read`` call.

    Raises:
        RawFormatError: a truncated record (which record, at which byte offset), bytes that are
            not an ASIN where one should start, or a non-finite vector of a wanted item.
    """
    path = Path(path)
    if sorted(wanted.values()) != list(range(len(wanted))):
        raise ValueError("wanted must map ASINs to the rows 0..len(wanted)-1")
    layout = record_dtype(dim)
    size = layout.itemsize
    matrix = np.zeros((len(wanted), dim), dtype=np.float32)
    found = np.zeros(len(wanted), dtype=bool)
    records = duplicates = 0
    stream, raw = open_binary(path)
    try:
        with progress_bar(f"image features {path.name}", total=os.path.getsize(path), unit="bytes") as bar:
            while True:
                try:
                    block = _read_up_to(stream, size * block_records)
                except (OSError, EOFError, zlib.error) as error:
                    raise RawFormatError(
                        f"{path}: damaged or truncated gzip stream after record {records} ({error})"
                    ) from None
                if not block:
                    break
                whole = len(block) // size
                chunk = np.frombuffer(block, dtype=layout, count=whole)
                for position, asin_bytes in enumerate(chunk["asin"].tolist()):
                    index = records + position
                    asin = _check_asin(asin_bytes, path, index, index * size)
                    row = wanted.get(asin)
                    if row is None:
                        continue
                    if found[row]:
                        duplicates += 1
                        continue
                    vector = chunk["vector"][position]
                    if not np.isfinite(vector).all():
                        raise RawFormatError(
                            f"{path}: record {index} (byte offset {index * size}, ASIN {asin}) holds NaN or Inf values"
                        )
                    matrix[row] = vector
                    found[row] = True
                records += whole
                if len(block) % size:
                    offset = records * size
                    raise RawFormatError(
                        f"{path}: record {records} (byte offset {offset}) is truncated: {len(block) % size} of "
                        f"{size} bytes (10-byte ASIN + {dim} float32); the file ends inside it"
                    )
                bar.update(raw.tell())
    finally:
        stream.close()
        raw.close()
    if not found.any():
        raise RawFormatError(
            f"{path}: none of the {len(wanted)} items has an image vector among its {records} records "
            f"(is it the image feature file of the same category?)"
        )
    matrix[~found] = matrix[found].mean(axis=0, dtype=np.float64).astype(np.float32)
    return ImageFeatures(matrix, found, records, duplicates)
