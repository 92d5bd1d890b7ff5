import gzip

import pytest

from lit_mmrec.data.loader import DataFormatError
from lit_mmrec.prepare.readers import RawFormatError, iter_lines, parse_json_record, parse_literal_record


def test_lines_of_plain_and_gzip_files(tmp_path):
    text = "first\nsecond\r\n\nfourth"
    plain, packed = tmp_path / "a.json", tmp_path / "a.json.gz"
    plain.write_text(text)
    with gzip.open(packed, "wt") as handle:
        handle.write(text)
    expected = [(1, "first"), (2, "second"), (3, ""), (4, "fourth")]
    assert list(iter_lines(plain)) == expected
    assert list(iter_lines(packed)) == expected


def test_undecodable_line_names_file_and_line(tmp_path):
    path = tmp_path / "meta.json"
    path.write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(RawFormatError, match=r"meta.json, line 2: not valid utf-8 text"):
        list(iter_lines(path))


def test_damaged_gzip_names_the_file(tmp_path):
    path = tmp_path / "reviews.json.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-30])
    with pytest.raises(RawFormatError, match=r"reviews.json.gz, after line \d+: damaged or truncated gzip"):
        list(iter_lines(path))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(iter_lines("/nonexistent/reviews.json"))


def test_json_record_errors_name_file_and_line():
    assert parse_json_record('{"asin": "B1"}', "f.json", 3) == {"asin": "B1"}
    with pytest.raises(RawFormatError, match=r"^f.json, line 7: not valid JSON \(Expecting"):
        parse_json_record('{"asin": "B1",', "f.json", 7)
    with pytest.raises(RawFormatError, match="line 8: expected a JSON object, got list"):
        parse_json_record("[1, 2]", "f.json", 8)


def test_literal_records_are_parsed_without_eval():
    line = "{'asin': 'B1', 'categories': [['Baby', 'Toys']], 'price': 9.99, 'title': \"Kid's toy\"}"
    assert parse_literal_record(line, "meta.json", 1)["categories"] == [["Baby", "Toys"]]
    assert parse_literal_record('{"asin": "B1", "x": true}', "meta.json", 2)["x"] is True  # JSON accepted too
    with pytest.raises(RawFormatError, match="meta.json, line 3: neither a Python dict literal nor JSON"):
        parse_literal_record("{'asin': __import__('os').getcwd()}", "meta.json", 3)
    assert issubclass(RawFormatError, DataFormatError)
