"""Every backbone through ``train.py``'s CLI on 2 DDP ranks (gloo, CPU): run under ``torch.distributed.run``.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_backbones.py OUT DATA [BACKBONE ...]

Each rank fits every discovered backbone (or the named ones) for one epoch with SG-URInit (without it where the
backbone declares no user table), then saves its parameters, buffers and strategy (``OUT/<Backbone>_rank<R>.pt``);
a fit that ends with the CLI's one-line refusal saves what it printed (``OUT/<Backbone>_rank<R>.refused``), one
that raises saves the exception (``.crashed``). A refusal that names ``ddp_find_unused_parameters_true`` is
retried with that strategy, as the line tells a user to. ``tests/test_ddp_backbones.py`` compares the ranks.
The process group outlives each fit (the environment creates the processes), so one launch covers every
backbone and the imports are paid once.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import torch
from helpers import discover_backbones, fit_args

from lit_mmrec.cli import main


def fit(backbone: type, data: Path, strategy: str, sgurinit: bool) -> tuple[object | None, str]:
    """One epoch of ``backbone`` on ``data`` under ``strategy``; the CLI (``None`` when refused) and stderr."""
    name = backbone.__name__
    model = f"{backbone.__module__}.{name}"
    args = [*fit_args(model, data, f"ddp_{name}", 1, sgurinit=sgurinit, logger=False),
            "--trainer.strategy", strategy, "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return main(args), err.getvalue()
    except SystemExit:
        return None, err.getvalue()
    except Exception as error:  # noqa: BLE001 - a crash is recorded, for the test to name it, and the next runs
        return None, f"crashed: {type(error).__name__}: {error}"


def dense(tensor: torch.Tensor) -> torch.Tensor:
    """A buffer as a strided CPU tensor (sparse graphs included), for ``torch.equal``."""
    tensor = tensor.detach().cpu()
    return tensor if tensor.layout == torch.strided else tensor.to_dense()


def run(out: Path, data: Path, names: list[str]) -> None:
    rank = int(os.environ["RANK"])
    out.mkdir(parents=True, exist_ok=True)
    for backbone in discover_backbones():
        if names and backbone.__name__ not in names:
            continue
        strategy, sgurinit = "ddp", True
        cli, message = fit(backbone, data, strategy, sgurinit)
        if cli is None and "declares no user table" in message:
            sgurinit = False
            cli, message = fit(backbone, data, strategy, sgurinit)
        if cli is None and "ddp_find_unused_parameters_true" in message and not message.startswith("crashed"):
            strategy = "ddp_find_unused_parameters_true"
            cli, message = fit(backbone, data, strategy, sgurinit)
        stem = out / f"{backbone.__name__}_rank{rank}"
        if cli is None:
            stem.with_suffix(".crashed" if message.startswith("crashed") else ".refused").write_text(message)
            continue
        module = cli.model
        torch.save({"parameters": {k: v.detach().cpu() for k, v in module.named_parameters()},
                    "buffers": {k: dense(v) for k, v in module.named_buffers()},
                    "epochs": cli.trainer.current_epoch, "strategy": strategy}, stem.with_suffix(".pt"))


if __name__ == "__main__":
    run(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
