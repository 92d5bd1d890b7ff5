"""Streaming readers of raw text files, and the error they raise.

Every raw release is read line by line (a multi-GB metadata file never has to fit in memory),
from plain or gzip files alike (a name ending in ``.gz`` is decompressed on the fly). Anything
malformed raises :class:`RawFormatError`, which names the file and the 1-based line (or record).
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lit_mmrec.data.loader import DataFormatError
from lit_mmrec.prepare.progress import progress_bar

#: Lines between two refreshes of a progress bar (a refresh reads the file position).
_REFRESH_EVERY = 8192


class RawFormatError(DataFormatError):
    """A raw input file (ratings, reviews, metadata, image features, ...) is malformed.

    The message names the file and the line or record, and says what was expected.
    """


def open_binary(path: str | Path) -> tuple[IO[bytes], IO[bytes]]:
    """Open ``path`` for reading bytes, decompressing when its name ends in ``.gz``.

    Returns ``(stream, raw)``: read from ``stream``; ``raw.tell()`` is the position in the file on
    disk (compressed bytes for gzip), which is what progress is measured in. Close ``stream``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed with the stream
    if path.name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def iter_lines(
    path: str | Path, encoding: str = "utf-8", description: str | None = None
) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of ``path`` (1-based; end-of-line stripped).

    Shows a progress bar over the file's size when ``description`` is given and stderr is a
    terminal. A line that does not decode, or a damaged gzip stream, raises :class:`RawFormatError`.
    """
    path = Path(path)
    stream, raw = open_binary(path)
    number = 0
    try:
        with progress_bar(
            description or f"reading {path.name}", total=os.path.getsize(path), unit="bytes"
        ) as bar:
            try:
                for number, line in enumerate(stream, start=1):  # noqa: B007 - number is read after the loop
                    try:
                        text = line.decode(encoding)
                    except UnicodeDecodeError as error:
                        raise RawFormatError(
                            f"{path}, line {number}: not valid {encoding} text ({error.reason} at byte {error.start})"
                        ) from None
                    yield number, text.rstrip("\r\n")
                    if number % _REFRESH_EVERY == 0:
                        bar.update(raw.tell())
            except (OSError, EOFError, zlib.error) as error:
                raise RawFormatError(
                    f"{path}, after line {number}: damaged or truncated gzip stream ({error})"
                ) from None
            bar.update(raw.tell())
    finally:
        stream.close()
        raw.close()


def parse_json_record(text: str, path: str | Path, line: int) -> dict[str, Any]:
    """Parse one JSON-lines record (a JSON object), naming file and line on failure."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise RawFormatError(
            f"{path}, line {line}: not valid JSON ({error.msg} at column {error.colno}): {_excerpt(text)}"
        ) from None
    if not isinstance(record, dict):
        raise RawFormatError(
            f"{path}, line {line}: expected a JSON object, got {type(record).__name__}: {_excerpt(text)}"
        )
    return record


def parse_literal_record(text: str, path: str | Path, line: int) -> dict[str, Any]:
    """Parse one line of the 2014 Amazon metadata: a Python dict literal (``ast.literal_eval``, never ``eval``).

    Strict JSON is accepted too (some mirrors converted the files), so a line is an error only when
    it is neither.
    """
    try:
        record = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as literal_error:
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            reason = getattr(literal_error, "msg", None) or str(literal_error) or type(literal_error).__name__
            raise RawFormatError(
                f"{path}, line {line}: neither a Python dict literal nor JSON ({reason}): {_excerpt(text)}"
            ) from None
    if not isinstance(record, dict):
        raise RawFormatError(
            f"{path}, line {line}: expected a dict record, got {type(record).__name__}: {_excerpt(text)}"
        )
    return record


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
