"""benchmarks/gpu_check.py: skips cleanly without CUDA; runs its checks when there is a GPU."""

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


def test_skips_with_a_message_and_exit_code_0_without_cuda(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_script().main(["--epochs", "1"]) == 0
    assert "gpu_check: skipped, CUDA is not available" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.usefixtures("isolated_cache")
def test_gpu_check_passes_on_a_gpu():
    assert load_script().main(["--shape", "small", "--epochs", "1"]) == 0
