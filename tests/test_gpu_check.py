"""benchmarks/gpu_check.py: a clear skip (exit code 77) without CUDA; its steps run end to end on the CPU
(``--allow-cpu``), and pass on a GPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # the CLI imports its Timer callback by class path
    spec.loader.exec_module(module)
    return module


def test_skips_with_one_line_and_exit_code_77_without_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_script().main(["--epochs", "1"]) == 77
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("gpu_check: skipped, CUDA is not available")


@pytest.mark.slow
def test_every_step_runs_on_the_cpu_with_allow_cpu(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LIT_MMREC_CACHE", str(tmp_path / "cache"))
    assert load_script().main(["--allow-cpu", "--shape", "tiny", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "fit, 1-GPU DDP" in out and "predict, 1-GPU DDP" in out and "all checks passed" in out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.usefixtures("isolated_cache")
def test_gpu_check_passes_on_a_gpu():
    assert load_script().main(["--shape", "small", "--epochs", "1"]) == 0
