"""``runs.json``, a study's machine-readable record: ``{"float32_digits":9,"runs":[`` one run per line ``]}``,
compact JSON.

One run per line keeps a changed run a one-line diff. Most numbers in a record are metrics Lightning logged as
float32 (per-epoch validation curves, diagnostics, test and cold-start metrics); printed as float64 they take 17
digits, as float32 at most 9. So a float is written in the shortest form that :func:`read_float` reads back as
exactly the same float64:

* a float32 value: its shortest decimal that rounds to it as a float32 (``0.16223788`` for
  ``0.16223788261413574``);
* any other float: Python's ``repr``, or, where that has at most 9 significant digits (``0.001``), 17 digits in
  exponent form (``1.0000000000000000e-03``), so that it is not read as a float32.

:func:`read_float` reads a decimal of at most 9 significant digits as the float32 nearest to it, any other as
float64; ``"float32_digits":9`` at the top says the file is written so. Any JSON reader reads the file;
:func:`read_runs` gives back every float bit for bit (what reports that must reproduce byte for byte need), and
reads a ``runs.json`` without that key as plain JSON.

    >>> text = encode({"val": 0.16223788261413574, "min_delta": 0.001, "wall_s": 96.90459404801368})
    >>> text
    '{"val":0.16223788,"min_delta":1.0000000000000000e-03,"wall_s":96.90459404801368}'
    >>> json.loads(text, parse_float=read_float)["val"] == 0.16223788261413574
    True
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Significant digits that single out a float32 (any float32 has a decimal form this short).
FLOAT32_DIGITS = 9
_MANTISSA = re.compile(r"[eE]")


def as_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (as a Python float); OverflowError beyond float32's range."""
    return struct.unpack("f", struct.pack("f", value))[0]


def significant_digits(text: str) -> int:
    """Digits of a decimal's mantissa, leading zeros dropped, trailing zeros kept (``"0.0010"``: 2)."""
    mantissa = _MANTISSA.split(text.lstrip("+-"))[0].replace(".", "")
    return len(mantissa.lstrip("0")) or 1


def read_float(text: str) -> float:
    """A JSON float of ``runs.json``: a float32 when ``text`` has at most :data:`FLOAT32_DIGITS` significant
    digits, else the float64 it spells."""
    value = float(text)
    if significant_digits(text) <= FLOAT32_DIGITS and math.isfinite(value):
        try:
            return as_float32(value)
        except OverflowError:
            return value
    return value


def float_text(value: float) -> str:
    """The shortest text :func:`read_float` reads back as ``value`` (the rules in the module docstring)."""
    if not math.isfinite(value):
        return json.dumps(value)
    candidates = []
    try:
        if as_float32(value) == value:
            candidates += [repr(float(f"{value:.{p}g}")) for p in range(1, FLOAT32_DIGITS + 1)]
    except OverflowError:
        pass
    candidates += [repr(value), f"{value:.16e}"]
    return next(text for text in candidates if read_float(text) == value)


def encode(value: Any) -> str:
    """Compact JSON of ``value`` (dicts, lists, strings, numbers, booleans, None) with :func:`float_text` floats."""
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def runs_text(records: Iterable[dict[str, Any]]) -> str:
    """The text of a ``runs.json`` holding ``records`` (in the order given)."""
    return f'{{"float32_digits":{FLOAT32_DIGITS},"runs":[\n' + ",\n".join(encode(r) for r in records) + "\n]}\n"


def write_runs(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` to ``path`` atomically (through a temporary file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(runs_text(records))
    os.replace(temporary, path)


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The records of the ``runs.json`` at ``path``, every float as it was written (:func:`read_float` where the
    file says ``"float32_digits"``, plain JSON otherwise)."""
    text = Path(path).read_text()
    found = json.loads(text)
    if found.get("float32_digits") == FLOAT32_DIGITS:
        found = json.loads(text, parse_float=read_float)
    return found["runs"]
