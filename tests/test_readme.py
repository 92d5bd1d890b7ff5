"""The README's commands parse, the files they name exist, and its SG-URInit tables say what the code and the
studies say.

Every command in a ```bash block of README.md is checked at the level of its parser: ``train.py`` commands with
``--print_config`` appended (LightningCLI parses every config and option, then exits before anything is built or
any data read), ``python -m lit_mmrec.prepare`` and ``python -m lit_mmrec.experiments`` commands by their
argparse parsers; every ``configs/...yaml`` a command names
must exist.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import shlex
import sys
from pathlib import Path

import pytest

from lit_mmrec.cli import main as train_main
from lit_mmrec.experiments.__main__ import build_parser as experiments_parser
from lit_mmrec.init.options import SGURInitOptions
from lit_mmrec.prepare.__main__ import build_parser as prepare_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def commands() -> list[list[str]]:
    """Each command of the README's bash blocks, continuation lines joined, comments dropped, split on ``&&``."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                found.append(words[:cut])
                words = words[cut + 1:]
    return [c for c in found if c]


COMMANDS = commands()
TRAIN = [c for c in COMMANDS if c[:2] == ["python", "train.py"]]


def test_the_readme_shows_the_commands_a_user_needs():
    subcommands = {c[2] for c in TRAIN}
    assert {"fit", "test", "predict"} <= subcommands
    assert any(c[:3] == ["python", "-m", "lit_mmrec.experiments"] for c in COMMANDS)
    assert any(c[:3] == ["python", "-m", "lit_mmrec.prepare"] for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c)[:80] for c in COMMANDS])
def test_every_config_a_command_names_exists(command):
    for word in command:
        if word.startswith("configs/"):
            assert (ROOT / word).is_file(), word


@pytest.mark.parametrize("command", TRAIN, ids=[" ".join(c)[:80] for c in TRAIN])
def test_every_train_command_parses(command, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["train.py"])  # LightningCLI reads args=, not pytest's command line
    args = command[2:]
    probe = args if any(a.endswith("help") for a in args) else [*args, "--print_config"]
    with pytest.raises(SystemExit) as exit_:
        train_main(probe)
    assert exit_.value.code in (0, None), capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS if c[:2] == ["python", "-m"] and c[2] in ("lit_mmrec.prepare", "lit_mmrec.experiments")],
    ids=lambda c: " ".join(c)[:80],
)
def test_every_prepare_and_experiments_command_parses(command):
    parser = prepare_parser() if command[2] == "lit_mmrec.prepare" else experiments_parser()
    args = command[3:]
    if "--" in args:  # what follows goes to every train.py run
        args = args[: args.index("--")]
    parser.parse_args(args)


def test_sgurinit_options_table_is_the_options_type():
    guide = (ROOT / "docs" / "guide" / "sgurinit.md").read_text()
    table = guide.split("<!-- sgurinit-options")[1].split("<!-- /sgurinit-options -->")[0]
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M)
    defaults = {f.name: f.default for f in dataclasses.fields(SGURInitOptions)}
    assert [name for name, _ in rows] == list(defaults)
    for name, shown in rows:
        expected = defaults[name]
        text = "null" if expected is None else str(expected).lower() if isinstance(expected, bool) else str(expected)
        assert shown.strip() == text, name


def test_sgurinit_summary_is_what_its_study_prints(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the study reads docs/results/ relative to the repository root
    importlib.import_module("studies.sgurinit_summary").main()
    block = README.split("<!-- sgurinit-summary: what python -m studies.sgurinit_summary prints -->\n")[1]
    assert block.split("<!-- /sgurinit-summary -->")[0] == capsys.readouterr().out


def test_the_models_table_lists_every_backbone():
    from helpers import discover_backbones

    listed = set(re.findall(r"^\| [^|]+ \| [^|]+ \| `(\w+)` \|$", README, re.M))
    modules = {cls.__module__.rsplit(".", 1)[1] for cls in discover_backbones()}
    assert listed == modules
