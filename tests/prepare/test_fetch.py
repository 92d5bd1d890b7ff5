"""Release archives: a download is used only with its pinned SHA-256 (a local ``file://`` URL stands in
for GroupLens; the real download is not exercised by the tests)."""

import hashlib
import zipfile

import pytest

from lit_mmrec.prepare import fetch
from lit_mmrec.prepare.__main__ import main
from lit_mmrec.prepare.fetch import ChecksumError, Release, download


def local_release(path, digest=None) -> Release:
    data = path.read_bytes()
    return Release(path.as_uri(), len(data), digest or hashlib.sha256(data).hexdigest())


def test_a_download_with_the_pinned_checksum_is_kept(tmp_path):
    source = tmp_path / "published" / "ml-100k.zip"
    source.parent.mkdir()
    source.write_bytes(b"release bytes")
    saved = download(local_release(source), tmp_path / "data")
    assert saved == tmp_path / "data" / "ml-100k.zip" and saved.read_bytes() == b"release bytes"
    source.write_bytes(b"changed upstream")  # a copy with the pinned digest is not fetched again
    assert download(local_release(source, hashlib.sha256(b"release bytes").hexdigest()), tmp_path / "data") == saved


def test_a_download_with_another_checksum_is_refused_and_deleted(tmp_path):
    source = tmp_path / "ml-100k.zip"
    source.write_bytes(b"tampered bytes")
    with pytest.raises(ChecksumError, match=f"SHA-256 {hashlib.sha256(b'tampered bytes').hexdigest()} is not the pinned 0+"):
        download(local_release(source, "0" * 64), tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []  # neither the archive nor a partial file is left


def test_the_pinned_grouplens_releases():
    assert fetch.MOVIELENS["100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert fetch.MOVIELENS["100k"].filename == "ml-100k.zip"
    assert all(len(release.sha256) == 64 for release in fetch.MOVIELENS.values())


def test_movielens_download_command(tmp_path, ml100k_raw, monkeypatch, capsys):
    archive = tmp_path / "published" / "ml-100k.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(ml100k_raw.iterdir()):
            bundle.write(path, f"ml-100k/{path.name}")
    out = tmp_path / "data" / "ml100k"
    monkeypatch.setitem(fetch.MOVIELENS, "100k", local_release(archive, "f" * 64))
    assert main(["movielens", "--download", "--no-text", "--out", str(out)]) == 2
    assert "is not the pinned ffff" in capsys.readouterr().err and not out.exists()
    monkeypatch.setitem(fetch.MOVIELENS, "100k", local_release(archive))
    assert main(["movielens", "--download", "--no-text", "--kcore", "0", "--out", str(out)]) == 0
    assert (tmp_path / "data" / "ml-100k.zip").is_file() and (out / "ml100k.inter").is_file()
    assert main(["movielens", str(archive), "--download", "--out", str(tmp_path / "x")]) == 2
    assert "or --download, one of the two" in capsys.readouterr().err
