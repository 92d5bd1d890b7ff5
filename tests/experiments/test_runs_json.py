"""``runs.json``'s format: one run per line, compact, every float read back bit for bit."""

import json
import math
import struct

import pytest

from lit_mmrec.experiments.runs_json import (
    float_text,
    read_float,
    read_runs,
    runs_text,
    significant_digits,
    write_runs,
)


def float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


@pytest.mark.parametrize("value", [
    float32(0.16223788261413574), float32(1e-7), float32(3.4e38), 0.0, -0.0, 1.0, 1e10, 96.90459404801368,
    0.001, 0.1, 1e-300, 123456789.0, float32(0.1) * 3, 2.0**-149,
])
def test_every_float_reads_back_as_itself(value):
    text = float_text(value)
    assert read_float(text).hex() == value.hex()
    assert float(text) == pytest.approx(value, rel=1e-7)  # any JSON reader gets it within float32 precision


def test_float32_values_take_at_most_nine_digits_and_others_are_not_read_as_float32():
    assert float_text(float32(0.16223788261413574)) == "0.16223788"
    assert float_text(0.001) == "1.0000000000000000e-03" and read_float("0.001") == float32(0.001)
    assert significant_digits("0.0010") == 2 and significant_digits("-1.25e-05") == 3 and significant_digits("0.0") == 1
    assert float_text(math.inf) == "Infinity" and math.isnan(read_float("NaN"))


def test_runs_file_one_run_per_line_round_trips(tmp_path):
    records = [{"name": "a", "curve": [float32(0.2), float32(0.25)], "wall_s": 1.5, "ok": True, "x": None},
               {"name": "b", "test": {"recall@20": float32(0.123456789)}, "options": ["--x", "1"]}]
    text = runs_text(records)
    assert text.splitlines()[0] == '{"float32_digits":9,"runs":['
    assert text.splitlines()[1] == '{"name":"a","curve":[0.2,0.25],"wall_s":1.5,"ok":true,"x":null},'
    assert json.loads(text)["runs"][1]["options"] == ["--x", "1"]  # plain JSON
    path = tmp_path / "runs.json"
    write_runs(path, records)
    assert path.read_text() == text and read_runs(path) == records
    # a runs.json without the key is read as plain JSON (short decimals stay float64)
    path.write_text(json.dumps({"runs": [{"v": 0.1}]}))
    assert read_runs(path) == [{"v": 0.1}]
