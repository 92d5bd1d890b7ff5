"""Public release archives: download with a pinned checksum, and unpack.

A downloaded archive is used only when its SHA-256 equals the one pinned in :data:`MOVIELENS`;
otherwise it is deleted and :class:`ChecksumError` names both digests. An archive the user gives
is unpacked as it is; its digest is recorded in ``prepare.json``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lit_mmrec.errors import InputError
from lit_mmrec.prepare.progress import progress_bar

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Release:
    """A release archive: where it is published, its name, size in bytes and SHA-256."""

    url: str
    size: int
    sha256: str

    @property
    def filename(self) -> str:
        """The archive's file name, the last part of its URL."""
        return self.url.rsplit("/", 1)[-1]


#: GroupLens' MovieLens archives (sizes and digests as tensorflow_datasets pins them,
#: ``tensorflow_datasets/url_checksums/movielens.txt``)
MOVIELENS = {
    "100k": Release(
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        4924029,
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
    ),
    "1m": Release(
        "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        5917549,
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
    ),
}


class ChecksumError(InputError):
    """A downloaded file is not the pinned release: its SHA-256 differs."""


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
    """Raise :class:`ChecksumError` (and delete ``path``) unless its SHA-256 is ``expected``."""
    found = sha256(path)
    if found != expected:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{path}: SHA-256 {found} is not the pinned {expected}; the file is deleted (a changed or damaged "
            f"download; fetch it again, or give a copy you trust as the input)"
        )


def download(release: Release, folder: str | Path) -> Path:
    """``folder/<release file name>``: downloaded unless a copy with the pinned SHA-256 is there already.

    The file is written under a temporary name and renamed once its checksum matches, so a broken
    download never leaves a file of the final name.

    Raises:
        ChecksumError: the downloaded bytes are not the pinned release.
        OSError: the download failed (no network, HTTP error).
    """
    folder = Path(folder)
    target = folder / release.filename
    if target.is_file() and sha256(target) == release.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{release.filename}.", suffix=".part", dir=folder)
    partial_path = Path(partial)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(release.url) as response:  # noqa: S310
            with progress_bar(f"downloading {release.filename}", total=release.size, unit="bytes") as bar:
                done = 0
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(done)
        verify(partial_path, release.sha256)
        os.replace(partial_path, target)
    finally:
        partial_path.unlink(missing_ok=True)
    return target


def unpack_zip(archive: str | Path, into: str | Path) -> Path:
    """Unpack ``archive`` into ``into`` (zipfile drops absolute and ``..`` member paths); returns ``into``."""
    archive = Path(archive)
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(into)
    except zipfile.BadZipFile as error:
        raise InputError(f"{archive} is not a readable zip file ({error})") from None
    return Path(into)
