import torch

from lit_mmrec.data.cache import cached


def test_cache_hit_miss_and_invalidation(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"graph": torch.arange(6).float().view(2, 3)}

    features = torch.ones(4, 2)
    first = cached("g", {"k": 10}, [features], build, tmp_path)
    second = cached("g", {"k": 10}, [features], build, tmp_path)
    assert len(calls) == 1 and torch.equal(first["graph"], second["graph"])
    cached("g", {"k": 5}, [features], build, tmp_path)  # other parameters
    cached("g", {"k": 10}, [features * 2], build, tmp_path)  # other inputs
    assert len(calls) == 3
    entry = next(tmp_path.glob("g-*.pt"))
    entry.write_bytes(b"garbage")  # a damaged entry is rebuilt
    for path in tmp_path.glob("g-*.pt"):
        path.write_bytes(b"garbage")
    cached("g", {"k": 10}, [features], build, tmp_path)
    assert len(calls) == 4
