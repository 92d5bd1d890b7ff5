"""Every backbone under DDP: one 2-process launch (``tests/ddp_backbones.py`` under ``torch.distributed.run``, gloo
on the CPU) fits each discovered backbone for one epoch through ``train.py``'s CLI with SG-URInit.

Per backbone, either both ranks end the fit holding identical parameters and identical buffers (the data-derived
graphs each rank builds for itself, per-epoch re-drawn ones included), or both refuse with the CLI's one
``error:`` line; nothing ends in a traceback. A backbone that needs ``ddp_find_unused_parameters_true`` must say
so in that line (the launch retries with it, as a user would); which ones refuse DDP altogether is declared here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import discover_backbones
from probes import train_env
from test_resume import make_data

BACKBONES = [cls.__name__ for cls in discover_backbones()]
#: backbones that fit in one process only, each saying so in one line (tests of their own check the wording)
SINGLE_PROCESS = {"ItemKNNCBF", "MMSSL"}
SCRIPT = Path(__file__).with_name("ddp_backbones.py")


@pytest.fixture(scope="module")
def launch(tmp_path_factory) -> Path:
    """The folder of per-rank results of one 2-process launch over every backbone."""
    root = tmp_path_factory.mktemp("ddp_backbones")
    data = make_data(root / "data")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(SCRIPT), "out", str(data)]
    done = subprocess.run(command, cwd=root, env=train_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return root / "out"


def outcome(out: Path, name: str, rank: int) -> Path:
    found = [path for path in out.glob(f"{name}_rank{rank}.*")]
    assert len(found) == 1, f"{name}, rank {rank}: {found}"
    return found[0]


@pytest.mark.parametrize("name", BACKBONES)
def test_both_ranks_end_alike_or_refuse_in_one_line(launch: Path, name: str) -> None:
    first, second = outcome(launch, name, 0), outcome(launch, name, 1)
    assert first.suffix == second.suffix, (first.read_text() if first.suffix != ".pt" else second.read_text())
    assert first.suffix != ".crashed", first.read_text()
    if name in SINGLE_PROCESS:
        assert first.suffix == ".refused"
        errors = [line for line in first.read_text().splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "one" in errors[0], first.read_text()
        assert "Traceback" not in first.read_text()
        return
    assert first.suffix == ".pt", first.read_text()
    ranks = [torch.load(path, weights_only=True) for path in (first, second)]
    assert ranks[0]["epochs"] == ranks[1]["epochs"] == 1
    for kind in ("parameters", "buffers"):
        assert ranks[0][kind].keys() == ranks[1][kind].keys()
        differ = [key for key, value in ranks[0][kind].items() if not torch.equal(value, ranks[1][kind][key])]
        assert not differ, f"{name}: {kind} differ between the ranks: {differ}"
    assert ranks[0]["parameters"], f"{name} trained no parameter"


def test_the_strategy_retry_names_the_backbones_that_need_it(launch: Path) -> None:
    """LATTICE trains its graph parameters in an epoch's first batch only and DiffMM its denoisers outside the
    recommender loss: both refuse plain DDP in one line, then fit with the strategy that line names."""
    strategies = {path.name.split("_rank")[0]: torch.load(path, weights_only=True)["strategy"]
                  for path in launch.glob("*_rank0.pt")}
    retried = {name for name, strategy in strategies.items() if strategy != "ddp"}
    assert {"LATTICE", "DiffMM"} <= retried
    assert all(strategies[name] == "ddp_find_unused_parameters_true" for name in retried)
