"""The experiment runner (``python -m lit_mmrec.experiments``) with folders, configs and numbers it cannot use:
one line naming the option or the file, exit code 2, before the first run starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import make_tiny_dataset
from hostile.support import assert_one_error_line

from lit_mmrec.experiments import runner
from lit_mmrec.experiments.__main__ import main as experiments_main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    """A working folder with ``configs/tiny/lightgcn.yaml``; runs are recorded, never trained."""
    data = make_tiny_dataset(tmp_path / "data")
    configs = tmp_path / "configs"
    (configs / "tiny").mkdir(parents=True)
    (configs / "tiny" / "lightgcn.yaml").write_text(
        f"model: {{class_path: lit_mmrec.models.lightgcn.LightGCN}}\ndata: {{init_args: {{data_dir: {data}}}}}\n"
    )
    shutil.copytree(ROOT / "configs" / "sgurinit", configs / "sgurinit")
    started: list[str] = []
    monkeypatch.setattr(runner, "execute", lambda spec, *args, **kwargs: started.append(spec.name))
    monkeypatch.chdir(tmp_path)
    return configs, started


def table(configs: Path, *options: str) -> list[str]:
    return ["table", "--datasets", "tiny", "--models", "lightgcn", "--inits", "random", "--configs", str(configs),
            "--out", "results/study", *options]  # fmt: skip


def refused(capsys: pytest.CaptureFixture, argv: list[str], started: list[str], *names: str) -> None:
    capsys.readouterr()
    assert experiments_main(argv) == 2
    assert_one_error_line(capsys.readouterr().err, *names)
    assert started == []
    assert not Path("results").exists()


def test_workdir_that_does_not_exist(study, capsys) -> None:
    configs, started = study
    refused(capsys, table(configs, "--workdir", "nowhere"), started, "--workdir nowhere", "no such folder")


def test_out_is_a_file(study, capsys, tmp_path: Path) -> None:
    configs, started = study
    (tmp_path / "results").write_text("")
    capsys.readouterr()
    assert experiments_main(table(configs)) == 2
    assert_one_error_line(capsys.readouterr().err, "results/study", "--out", "a file is in the way")
    assert started == []


def test_logs_folder_is_a_file(study, capsys, tmp_path: Path) -> None:
    configs, started = study
    (tmp_path / "logs").write_text("")
    refused(capsys, table(configs), started, "logs/experiments", "--logs")


def test_missing_config_names_the_option(study, capsys) -> None:
    configs, started = study
    argv = table(configs)
    argv[argv.index("tiny")] = "nosuch"
    refused(capsys, argv, started, "nosuch/lightgcn.yaml", "--configs")


@pytest.mark.parametrize("content, message", [("- a list\n", "not a mapping of options"),
                                              ("model: [unclosed\n", "not a YAML file")])
def test_config_that_is_not_a_mapping(study, capsys, content: str, message: str) -> None:
    configs, started = study
    (configs / "tiny" / "lightgcn.yaml").write_text(content)
    refused(capsys, table(configs), started, "lightgcn.yaml", message)


@pytest.mark.parametrize("option, value", [("--jobs", "0"), ("--max_epochs", "0"), ("--cold_start", "-1")])
def test_numbers_out_of_range(study, capsys, option: str, value: str) -> None:
    configs, started = study
    refused(capsys, table(configs, option, value), started, option, f"got {value}")
