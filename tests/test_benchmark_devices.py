"""The device options of the benchmark scripts: a clear refusal of CUDA where there is none, the kernel
comparison's agreement on the CPU, and gpu_session.sh's dry run (exit code 77) without CUDA."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ML100K, requires_ml100k

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def scripts(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # sparse_kernels imports its neighbour benchmark
    return lambda name: importlib.import_module(name)


@pytest.mark.parametrize("name", ["benchmark", "sparse_kernels"])
def test_device_cuda_without_cuda_is_one_line_and_exit_code_2(scripts, name, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        scripts(name).main(["--device", "cuda"])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: --device cuda but CUDA is not available")


@requires_ml100k
def test_kernels_agree_on_the_cpu_and_a_winner_is_named(scripts, tmp_path, capsys):
    out = tmp_path / "kernels.json"
    args = ["--device", "cpu", "--shapes", "ml100k", "--warmup", "0", "--repeats", "1", "--ml100k", str(ML100K)]
    assert scripts("sparse_kernels").main([*args, "--json", str(out)]) == 0
    (result,) = json.loads(out.read_text())["results"]
    names = [row["kernel"] for row in result["rows"]]
    assert names == ["shipped", "embedding_bag", "sparse.mm", "pyg.spmm", "pyg.EdgeIndex", "pyg.LGConv"]
    assert all(row["ok"] and row["rel_err"] < 1e-5 for row in result["rows"]), result["rows"]
    assert result["winner"] in names and "winner on CPU" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="the dry run is what happens without CUDA")
def test_gpu_session_dry_run_skips_every_cuda_step_with_exit_code_77(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "LIT_MMREC_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_session.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 77, done.stdout + done.stderr
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert summary.count(": CUDA is not available") == 4 and "exit code 77" in summary
