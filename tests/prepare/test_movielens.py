"""MovieLens conversion on tiny files in the ml-100k and ml-1m formats."""

import numpy as np
import pytest

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.prepare.interactions import split_sizes
from lit_mmrec.prepare.movielens import movie_text, prepare_movielens
from lit_mmrec.prepare.readers import RawFormatError


def test_movie_text_matches_the_shared_ml100k_strings():
    assert movie_text("Toy Story (1995)", ["Animation", "Children's", "Comedy"]) == (
        "Toy Story (1995). Genres: Animation, Children's, Comedy"
    )
    assert movie_text("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", ["Drama"]) == (
        "Shanghai Triad (Yao a yao yao dao waipo qiao) (1995). Genres: Drama"
    )
    assert movie_text("unknown", ["unknown"], "") == "unknown. Genres: unknown"
    assert movie_text("No Year", ["Drama"], "01-Jan-1994") == "No Year (1994). Genres: Drama"


def test_ml100k_ids_split_and_text(tmp_path, write_ml100k, fake_encoder):
    ratings = []
    for user in (1, 2, 3, 4, 5, 6):
        ratings += [(user, movie, 4, 880000000 + 10 * user + movie) for movie in (1, 2, 3, 4, 5)]
    ratings += [(7, 1, 3, 1), (7, 2, 3, 2)]  # user 7 has two ratings: dropped by the 5-core
    ratings += [(6, 9, 2, 3)]  # movie 9 has one rating: dropped
    movies = {
        1: ("Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"]),
        2: ("Misérables, Les (1995)", "01-Jan-1995", ["Drama", "Musical"]),  # latin-1 in u.item
        3: ("unknown", "", ["unknown"]),
        4: ("Heat (1995)", "01-Jan-1995", ["Action", "Crime", "Thriller"]),
        5: ("Fargo (1996)", "14-Feb-1997", ["Crime", "Drama", "Thriller"]),
        9: ("Nine (2000)", "01-Jan-2000", ["Drama"]),
    }
    raw = write_ml100k(tmp_path / "ml-100k", ratings, movies)
    out = tmp_path / "ml100k"
    result = prepare_movielens(raw, out, text_encoder=fake_encoder, text_model="fake")
    assert result.info["source"] == "movielens ml-100k"
    data = load_mmrec_dataset(out)
    assert (data.num_users, data.num_items) == (6, 5)
    assert (out / "u_id_mapping.csv").read_text().splitlines() == ["user_id\tuserID"] + [f"{u}\t{u - 1}" for u in range(1, 7)]
    assert (out / "i_id_mapping.csv").read_text().splitlines()[1:] == [f"{m}\t{m - 1}" for m in range(1, 6)]
    texts = [line.split("\t", 1)[1] for line in (out / "item_text.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert texts[1] == "Misérables, Les (1995). Genres: Drama, Musical"
    assert texts[2] == "unknown. Genres: unknown"
    np.testing.assert_array_equal(np.load(out / "text_feat.npy"), fake_encoder(texts))
    labels = np.loadtxt(out / "ml100k.inter", skiprows=1, dtype=np.int64)[:, 4]
    assert tuple(np.bincount(labels, minlength=3)) == tuple(6 * np.array(split_sizes(5)))


def test_ml1m_dat_files(tmp_path, fake_encoder):
    raw = tmp_path / "ml-1m"
    raw.mkdir()
    lines = [f"{u}::{m}::{1 + (u + m) % 5}::{978300000 + u * 100 + m}" for u in range(1, 7) for m in (1, 2, 10, 20, 30)]
    (raw / "ratings.dat").write_text("\n".join(lines) + "\n")
    movies = ["1::Toy Story (1995)::Animation|Children's|Comedy", "2::Jumanji (1995)::Adventure|Children's|Fantasy",
              "10::GoldenEye (1995)::Action|Adventure|Thriller", "20::Money Train (1995)::Action",
              "30::Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)::Drama", "40::Unrated (1999)::Drama"]  # fmt: skip
    (raw / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    out = tmp_path / "ml1m"
    prepare_movielens(raw, out, text_encoder=fake_encoder, split_order="time")
    data = load_mmrec_dataset(out)
    assert (data.num_users, data.num_items) == (6, 5)  # the unrated movie is not an item
    assert (out / "i_id_mapping.csv").read_text().splitlines()[1:] == ["1\t0", "2\t1", "10\t2", "20\t3", "30\t4"]
    assert (out / "item_text.tsv").read_text().splitlines()[1] == "0\tToy Story (1995). Genres: Animation, Children's, Comedy"
    table = np.loadtxt(out / "ml1m.inter", skiprows=1, dtype=np.int64)
    for user in range(6):  # time order: the latest two ratings are validation then test
        mine = table[table[:, 0] == user]
        assert mine[mine[:, 4] == 2, 3].min() > mine[mine[:, 4] == 0, 3].max()


def test_unknown_movie_names_file_and_line(tmp_path, write_ml100k):
    raw = write_ml100k(tmp_path / "ml-100k", [(1, 1, 5, 10), (1, 2, 5, 11), (2, 99, 3, 12)], {1: ("A (1990)", "", []), 2: ("B (1991)", "", [])})
    with pytest.raises(RawFormatError, match=r"u.data, line 3: movie id 99 is not in .*u.item"):
        prepare_movielens(raw, tmp_path / "out", kcore=0)


def test_malformed_rating_line(tmp_path, write_ml100k):
    raw = write_ml100k(tmp_path / "ml-100k", [(1, 1, 5, 10)], {1: ("A (1990)", "", [])})
    with open(raw / "u.data", "a") as handle:
        handle.write("2\t1\t5\n")
    with pytest.raises(RawFormatError, match=r"u.data, line 2: expected 4 fields separated by 'TAB'"):
        prepare_movielens(raw, tmp_path / "out", kcore=0)


def test_folder_without_movielens_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither u.data"):
        prepare_movielens(tmp_path, tmp_path / "out")
