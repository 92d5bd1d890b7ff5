"""Fixtures of the data-preparation tests: a model-free text encoder and MovieLens-style raw files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

FAKE_TEXT_DIM = 8


def fake_encode(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for a sentence encoder: one seeded Gaussian vector per distinct text."""
    rows = [np.random.default_rng(int(hashlib.md5(t.encode()).hexdigest()[:8], 16)).normal(size=FAKE_TEXT_DIM) for t in texts]
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), FAKE_TEXT_DIM)


@pytest.fixture(scope="session")
def fake_encoder() -> Callable[[list[str]], np.ndarray]:
    return fake_encode


GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip


def write_ml100k_files(
    folder: Path, ratings: list[tuple[int, int, int, int]], movies: dict[int, tuple[str, str, list[str]]]
) -> Path:
    """``u.data``, ``u.item`` (latin-1, 19 genre flags) and ``u.genre`` as in GroupLens' ml-100k."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    lines = []
    for movie, (title, date, genres) in movies.items():
        flags = "|".join("1" if g in genres else "0" for g in GENRES)
        lines.append(f"{movie}|{title}|{date}||http://us.imdb.com/M/title-exact?x|{flags}\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    return folder


def random_ml100k(folder: Path, num_users: int = 40, num_movies: int = 30, per_user: int = 12, seed: int = 0) -> Path:
    """A random ml-100k-style release (ids from 1, every user with ``per_user`` distinct movies)."""
    rng = np.random.default_rng(seed)
    ratings = []
    for user in range(1, num_users + 1):
        for k, movie in enumerate(rng.choice(num_movies, size=per_user, replace=False)):
            ratings.append((user, int(movie) + 1, int(rng.integers(1, 6)), 880000000 + 1000 * user + k))
    movies = {
        m: (f"Movie {m} (19{50 + m % 50})", f"01-Jan-19{50 + m % 50}", [GENRES[1 + m % 18], GENRES[1 + (m * 7) % 18]])
        for m in range(1, num_movies + 1)
    }
    return write_ml100k_files(folder, ratings, movies)


@pytest.fixture
def ml100k_raw(tmp_path: Path) -> Path:
    return random_ml100k(tmp_path / "ml-100k")


@pytest.fixture(scope="session")
def make_random_ml100k() -> Callable[..., Path]:
    return random_ml100k


@pytest.fixture(scope="session")
def write_ml100k() -> Callable[..., Path]:
    return write_ml100k_files
