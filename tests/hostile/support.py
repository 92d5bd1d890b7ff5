"""Helpers of the hostile-input tests (tests/hostile/): malformed data, configurations, checkpoints and raw releases, and injected
faults. Each case runs an entry point in-process (``train.py``'s :func:`lit_mmrec.cli.main`,
``python -m lit_mmrec.prepare``'s ``main``) from an empty working folder and asserts the exit
code, that stderr is exactly one ``error:`` line naming the file, and that nothing half-made is left.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lit_mmrec.cli import main as train_main
from lit_mmrec.prepare.__main__ import main as prepare_main


def model_config(data_dir: Path, **model: object) -> dict:
    """A LightGCN configuration on ``data_dir`` that trains in a second."""
    return {
        "experiment": "hostile",
        "model": {"class_path": "lit_mmrec.models.lightgcn.LightGCN", "init_args": {"embedding_dim": 8, **model}},
        "data": {"class_path": "lit_mmrec.data.datamodule.MMRecDataModule",
                 "init_args": {"data_dir": str(data_dir), "batch_size": 8}},
        "trainer": {"max_epochs": 1, "enable_progress_bar": False, "enable_model_summary": False},
    }  # fmt: skip


def assert_one_error_line(err: str, *names: str) -> str:
    """stderr is one line ``error: ...`` holding every one of ``names``; returns it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr is not one error line:\n{err}"
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class Run:
    """Runs an entry point in an empty working folder and checks what it leaves there."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture) -> None:
        self.folder = folder
        self.capsys = capsys

    def config(self, config: dict, name: str = "config.yaml") -> Path:
        path = self.folder / name
        path.write_text(yaml.safe_dump(config))
        return path

    def train(self, *argv: str) -> tuple[int, str]:
        """``python train.py *argv``: its exit code and stderr (a run that does not exit fails)."""
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            train_main(list(argv))
        return exit_info.value.code, self.capsys.readouterr().err

    def succeeds(self, *argv: str) -> str:
        """``python train.py *argv``, which must finish without exiting; its stderr."""
        self.capsys.readouterr()
        train_main(list(argv))
        return self.capsys.readouterr().err

    def prepare(self, *argv: str) -> tuple[int, str]:
        """``python -m lit_mmrec.prepare *argv``: its exit code and stderr."""
        self.capsys.readouterr()
        code = prepare_main(list(argv))
        return code, self.capsys.readouterr().err

    def refused(self, runner: Callable[..., tuple[int, str]], *argv: str, names: tuple[str, ...] = (),
                keep: tuple[str, ...] = (), code: int = 2) -> str:
        """Run, expect exit code ``code`` and one error line naming ``names``, and nothing new in the working
        folder but ``keep`` (and the configuration files written by :meth:`config`)."""
        before = set(files_under(self.folder))
        exit_code, err = runner(*argv)
        assert exit_code == code, err
        line = assert_one_error_line(err, *names)
        left = set(files_under(self.folder)) - before - set(keep)
        assert not left, f"the failed run left {sorted(left)}"
        return line
