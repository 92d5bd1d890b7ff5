"""Amazon 2014/2018 conversion on tiny files written in the releases' formats."""

import csv
import gzip
import json
import struct

import numpy as np
import pytest

from lit_mmrec.data.loader import load_mmrec_dataset
from lit_mmrec.prepare.amazon import item_text, prepare_amazon
from lit_mmrec.prepare.image_features import AMAZON_IMAGE_DIM
from lit_mmrec.prepare.interactions import split_sizes
from lit_mmrec.prepare.readers import RawFormatError

ASINS = [f"B00000{k:04d}" for k in range(12)]
USERS = [f"A{k:02d}USER" for k in range(10)]
PER_USER = [6, 7, 8, 9, 10, 11, 12, 12, 12, 12]  # user k rates the first PER_USER[k] items
# 5-core: item 11 has 4 raters and goes; the noise user and the noise item go in the first round.


def ratings_rows():
    rows = []
    for k, user in enumerate(USERS):
        rows += [(user, ASINS[j], 5.0 - j % 3, 1300000000 + 86400 * (10 * k + j)) for j in range(PER_USER[k])]
    rows.append((USERS[0], ASINS[0], 1.0, 1400000000))  # a repeated (user, item): dropped
    rows += [("ANOISEUSER", ASINS[0], 3.0, 1), ("ANOISEUSER", ASINS[1], 3.0, 2)]
    rows += [(USERS[0], "BNOISEITEM", 2.0, 3), (USERS[1], "BNOISEITEM", 2.0, 4)]
    return rows


def metadata_2014(asin):
    if asin == ASINS[3]:  # no brand, no description
        return {"asin": asin, "title": "Kid's Spoon", "categories": [["Baby", "Feeding"]], "price": 3.5}
    return {
        "asin": asin,
        "title": f"Product {asin}",
        "brand": "Acme",
        "categories": [["Baby", "Diapering", "Wipes"], ["Other", "Path"]],
        "description": f"Soft\nwipes {asin}.",
        "related": {"also_bought": ["B0RELATED1"]},
        "salesRank": {"Baby": 100},
    }


def b_file(path, asins):
    with open(path, "wb") as handle:
        for asin in asins:
            handle.write(asin.encode() + struct.pack(f"<{AMAZON_IMAGE_DIM}f", *image_vector(asin).tolist()))


def image_vector(asin):
    return np.random.default_rng(int(asin[-4:], 36)).normal(size=AMAZON_IMAGE_DIM).astype(np.float32)


@pytest.fixture
def release_2014(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(raw / "ratings_Baby.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(ratings_rows())
    lines = [repr(metadata_2014(a)) for a in ["B0UNRELATE", *ASINS]]  # Python literals, as in 2014
    lines.insert(1, "{'asin': 'B0UNRELAT2', 'title': 'broken")  # malformed, but not a kept product: skipped
    (raw / "meta_Baby.json").write_text("\n".join(lines) + "\n")
    b_file(raw / "image_features_Baby.b", ["B0UNRELATE", *[a for a in ASINS if a not in (ASINS[2], ASINS[7])]])
    return raw


def test_2014_ratings_metadata_and_images(release_2014, tmp_path, fake_encoder):
    out = tmp_path / "baby"
    result = prepare_amazon(
        release_2014 / "ratings_Baby.csv",
        out,
        release="2014",
        metadata=release_2014 / "meta_Baby.json",
        image_features=release_2014 / "image_features_Baby.b",
        text_encoder=fake_encoder,
        text_model="fake",
        seed=3,
    )
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["baby.inter", "u_id_mapping.csv", "i_id_mapping.csv", "image_feat.npy", "text_feat.npy",
                            "item_text.tsv", "prepare.json"])  # fmt: skip
    data = load_mmrec_dataset(out)
    assert (data.num_users, data.num_items) == (10, 11)
    assert data.feature_dims == {"image": AMAZON_IMAGE_DIM, "text": fake_encoder(['x']).shape[1]}

    # MMRec's mapping files: tab-separated with a header, ids by first appearance.
    item_map = list(csv.reader(open(out / "i_id_mapping.csv"), delimiter="\t"))
    assert item_map[0] == ["asin", "itemID"]
    assert [row[0] for row in item_map[1:]] == ASINS[:11]
    user_map = list(csv.reader(open(out / "u_id_mapping.csv"), delimiter="\t"))
    assert user_map[0] == ["user_id", "userID"] and [row[0] for row in user_map[1:]] == USERS

    # The .inter file: MMRec's header, grouped by user, each user split by the rule.
    rows = list(csv.reader(open(out / "baby.inter"), delimiter="\t"))
    assert rows[0] == ["userID", "itemID", "rating", "timestamp", "x_label"]
    table = np.array(rows[1:], dtype=np.int64)
    assert np.all(np.diff(table[:, 0]) >= 0)
    for user in range(10):
        labels = table[table[:, 0] == user, 4]
        assert tuple(np.bincount(labels, minlength=3)) == split_sizes(min(PER_USER[user], 11))
    assert (0, 0) in {(u, i) for u, i in table[:, :2].tolist()}  # the repeated row was dropped, the first kept
    assert table.shape[0] == sum(min(n, 11) for n in PER_USER)

    # Image rows follow the ids; the two items without a record get the mean of the others.
    image = np.load(out / "image_feat.npy")
    missing = [ASINS.index(a) for a in (ASINS[2], ASINS[7])]
    found = [i for i in range(11) if i not in missing]
    for i in found:
        np.testing.assert_array_equal(image[i], image_vector(ASINS[i]))
    mean = np.mean([image_vector(ASINS[i]).astype(np.float64) for i in found], axis=0)
    for i in missing:
        np.testing.assert_allclose(image[i], mean, rtol=1e-5, atol=1e-6)
    assert result.info["image"]["items_mean_filled"] == 2

    # Text: title + brand + first category path + description, newlines flattened.
    texts = [line.split("\t", 1)[1] for line in (out / "item_text.tsv").read_text().splitlines()[1:]]
    assert texts[0] == f"Product {ASINS[0]} Acme Baby Diapering Wipes Soft wipes {ASINS[0]}."
    assert texts[3] == "Kid's Spoon Baby Feeding"
    np.testing.assert_array_equal(np.load(out / "text_feat.npy"), fake_encoder(texts))
    info = json.loads((out / "prepare.json").read_text())
    assert info["duplicates_dropped"] == 1 and info["kcore"] == 5 and info["text"]["model"] == "fake"


def test_the_split_is_seeded(release_2014, tmp_path):
    def inter(seed, folder):
        prepare_amazon(release_2014 / "ratings_Baby.csv", tmp_path / folder, release="2014", seed=seed)
        return (tmp_path / folder / f"{folder}.inter").read_text()

    first = inter(1, "a")
    assert first == inter(1, "b")
    assert first != inter(2, "c")


def write_2018(raw, metadata_asins, bad_line=None):
    raw.mkdir(exist_ok=True)
    with gzip.open(raw / "Baby_5.json.gz", "wt") as handle:
        for user, asin, rating, time in ratings_rows():
            review = {"overall": rating, "verified": True, "reviewerID": user, "asin": asin, "unixReviewTime": time,
                      "reviewText": "ok", "style": {"Size:": " 1"}}  # fmt: skip
            handle.write(json.dumps(review) + "\n")
    lines = []
    for asin in metadata_asins:
        lines.append(json.dumps({"asin": asin, "title": f"Toy {asin}", "brand": "Brio", "main_cat": "Baby",
                                 "category": ["Baby Products", "Toys"], "description": ["Wooden.", "Safe."]}))  # fmt: skip
    if bad_line is not None:
        lines.insert(bad_line - 1, '{"asin": "' + ASINS[4] + '", "title": "Toy",, }')
    (raw / "meta_Baby.json").write_text("\n".join(lines) + "\n")
    return raw


def test_2018_reviews_and_json_metadata(tmp_path, fake_encoder):
    raw = write_2018(tmp_path / "raw", ASINS)
    out = tmp_path / "baby18"
    prepare_amazon(raw / "Baby_5.json.gz", out, release="2018", metadata=raw / "meta_Baby.json", text_encoder=fake_encoder)
    data = load_mmrec_dataset(out)
    assert (data.num_users, data.num_items) == (10, 11) and data.feature_dims == {"text": fake_encoder(['x']).shape[1]}
    texts = (out / "item_text.tsv").read_text().splitlines()
    assert texts[1] == f"0\tToy {ASINS[0]} Brio Baby Products Toys Wooden. Safe."


def test_unknown_asin_names_the_item_and_where_it_was_rated(tmp_path, fake_encoder):
    raw = write_2018(tmp_path / "raw", [a for a in ASINS if a != ASINS[5]])
    with pytest.raises(RawFormatError) as error:
        prepare_amazon(raw / "Baby_5.json.gz", tmp_path / "out", "2018", metadata=raw / "meta_Baby.json",
                       text_encoder=fake_encoder)  # fmt: skip
    message = str(error.value)
    first_line = 1 + [r[1] for r in ratings_rows()].index(ASINS[5])
    assert f"unknown ASIN '{ASINS[5]}'" in message
    assert f"Baby_5.json.gz, line {first_line}" in message and "meta_Baby.json" in message
    assert "1 of 11 kept items" in message
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("policy", ["drop", "empty"])
def test_missing_metadata_policies(tmp_path, policy, fake_encoder):
    raw = write_2018(tmp_path / "raw", [a for a in ASINS if a != ASINS[0]])
    out = tmp_path / policy
    result = prepare_amazon(raw / "Baby_5.json.gz", out, "2018", metadata=raw / "meta_Baby.json",
                            text_encoder=fake_encoder, missing_metadata=policy)  # fmt: skip
    asins = [line.split("\t")[0] for line in (out / "i_id_mapping.csv").read_text().splitlines()[1:]]
    assert result.info["text"]["items_without_metadata"] == 1
    if policy == "drop":
        assert ASINS[0] not in asins and len(asins) == 10
    else:
        assert asins[0] == ASINS[0]
        assert (out / "item_text.tsv").read_text().splitlines()[1] == "0\t"


def test_bad_json_line_names_file_and_line(tmp_path, fake_encoder):
    raw = write_2018(tmp_path / "raw", ASINS, bad_line=3)
    with pytest.raises(RawFormatError, match=r"meta_Baby.json, line 3: not valid JSON"):
        prepare_amazon(raw / "Baby_5.json.gz", tmp_path / "out", "2018", metadata=raw / "meta_Baby.json",
                       text_encoder=fake_encoder)  # fmt: skip


def test_bad_review_line_names_file_and_line(tmp_path):
    path = tmp_path / "Baby_5.json"
    path.write_text('{"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1}\n{"reviewerID": "A1"\n')
    with pytest.raises(RawFormatError, match=r"Baby_5.json, line 2: not valid JSON"):
        prepare_amazon(path, tmp_path / "out", "2014", kcore=0)
    path.write_text('{"reviewerID": "A1", "asin": "B1", "overall": 5.0}\n')
    with pytest.raises(RawFormatError, match=r"line 1: review record lacks \['unixReviewTime'\]"):
        prepare_amazon(path, tmp_path / "out", "2014", kcore=0)


def test_2018_ratings_csv_is_item_user_ordered(tmp_path):
    path = tmp_path / "Baby.csv"
    path.write_text("B000000001,AUSER1,5.0,100\nB000000002,AUSER1,4.0,200\nB000000001,AUSER2,3.0,300\n")
    out = tmp_path / "out"
    prepare_amazon(path, out, "2018", kcore=0)
    assert (out / "u_id_mapping.csv").read_text().splitlines()[1:] == ["AUSER1\t0", "AUSER2\t1"]
    assert (out / "i_id_mapping.csv").read_text().splitlines()[1:] == ["B000000001\t0", "B000000002\t1"]
    path.write_text("B000000001,AUSER1,5.0\n")
    with pytest.raises(RawFormatError, match=r"Baby.csv, line 1: expected 4 comma-separated fields \(item,user,"):
        prepare_amazon(path, tmp_path / "out2", "2018", kcore=0)


def test_item_text_of_both_releases():
    assert item_text({"title": "T", "brand": "B", "categories": [["C1", "C2"], ["X"]], "description": "D"}, "2014") == "T B C1 C2 D"
    assert item_text({"title": "T", "category": ["C1", "C2"], "description": ["D1", "D2"]}, "2018") == "T C1 C2 D1 D2"
    assert item_text({"asin": "B1"}, "2014") == ""


def test_refuses_to_overwrite_unasked(release_2014, tmp_path):
    out = tmp_path / "baby"
    prepare_amazon(release_2014 / "ratings_Baby.csv", out, "2014")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        prepare_amazon(release_2014 / "ratings_Baby.csv", out, "2014")
    prepare_amazon(release_2014 / "ratings_Baby.csv", out, "2014", overwrite=True)
