"""MovieLens conversion on tiny files in the ml-100k and ml-1m formats, and the recipe of ``data/ml100k``."""

import zipfile

import numpy as np
import pytest
from helpers import ML100K, requires_ml100k

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.errors import InputError
from lit_mmrec.prepare.__main__ import main
from lit_mmrec.prepare.fetch import sha256
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


def test_time_order_breaks_ties_by_item_whatever_the_file_order(tmp_path, write_ml100k, fake_encoder):
    # user 1 rated movies 1..5 at one time and 6..10 later: the split takes the later ones, lowest ids first
    ratings = [(1, movie, 4, 100 if movie <= 5 else 200) for movie in range(1, 11)]
    movies = {m: (f"M{m} (1990)", "", ["Drama"]) for m in range(1, 11)}
    tables = []
    for order in (ratings, ratings[::-1]):
        raw = write_ml100k(tmp_path / f"raw{len(tables)}", order, movies)
        prepare_movielens(raw, tmp_path / f"out{len(tables)}", kcore=0, split_order="time")
        tables.append(np.loadtxt(tmp_path / f"out{len(tables)}" / f"out{len(tables)}.inter", skiprows=1, dtype=np.int64))
    np.testing.assert_array_equal(tables[0], tables[1])
    labels = dict(zip(tables[0][:, 1].tolist(), tables[0][:, 4].tolist(), strict=True))
    assert [labels[item] for item in range(10)] == [0] * 8 + [1, 2]  # n = 10: 8 train, 1 valid, 1 test


def test_the_zip_file_is_read_as_its_folder(tmp_path, ml100k_raw, fake_encoder):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as bundle:  # GroupLens' layout: ml-100k/u.data, ...
        for path in sorted(ml100k_raw.iterdir()):
            bundle.write(path, f"ml-100k/{path.name}")
    from_folder = prepare_movielens(ml100k_raw, tmp_path / "a", text_encoder=fake_encoder)
    from_zip = prepare_movielens(archive, tmp_path / "b", text_encoder=fake_encoder)
    assert (tmp_path / "a" / "a.inter").read_text() == (tmp_path / "b" / "b.inter").read_text()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "text_feat.npy"), np.load(tmp_path / "b" / "text_feat.npy"))
    assert from_zip.info["inputs"] == {"archive": str(archive), "sha256": sha256(archive)}
    assert from_folder.info["inputs"] == {"folder": str(ml100k_raw)}


def test_not_a_zip_file(tmp_path):
    fake = tmp_path / "ml-100k.zip"
    fake.write_text("not a zip")
    with pytest.raises(InputError, match="ml-100k.zip is not a readable zip file"):
        prepare_movielens(fake, tmp_path / "out")


@requires_ml100k
def test_the_documented_command_rebuilds_the_shared_ml100k(tmp_path, write_ml100k):
    """``movielens ... --kcore 0 --split-order time`` on a release rebuilt from ``../shared/data/ml100k``
    (ratings in a shuffled order, the titles and genres behind its item texts) writes its exact ``.inter``."""
    users = dict(line.split("\t") for line in (ML100K / "u_id_mapping.tsv").read_text().splitlines()[1:])
    items = dict(line.split("\t") for line in (ML100K / "i_id_mapping.tsv").read_text().splitlines()[1:])
    raw_user = {int(v): int(k) for k, v in users.items()}
    raw_item = {int(v): int(k) for k, v in items.items()}
    shared = np.loadtxt(ML100K / "ml100k.inter", skiprows=1, dtype=np.int64)
    shuffled = shared[np.random.default_rng(0).permutation(len(shared))]
    ratings = [(raw_user[u], raw_item[i], r, t) for u, i, r, t, _ in shuffled.tolist()]
    movies = {}
    for line in (ML100K / "item_text.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        item, text = line.split("\t", 1)
        title, _, genres = text.rpartition(". Genres: ")
        movies[raw_item[int(item)]] = (title, "", genres.split(", "))
    raw = write_ml100k(tmp_path / "ml-100k", ratings, movies)
    assert main(["movielens", str(raw), "--kcore", "0", "--split-order", "time", "--no-text",
                 "--out", str(tmp_path / "ml100k")]) == 0
    assert (tmp_path / "ml100k" / "ml100k.inter").read_text() == (ML100K / "ml100k.inter").read_text()
