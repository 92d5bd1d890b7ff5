"""Every shipped config parses against the current constructors' signatures, alone and composed with
every SG-URInit fragment of ``configs/sgurinit/``; its header states the stopping rule it runs under and
its data folder lies inside the checkout.

One parser serves every case (building LightningCLI's parser costs more than parsing a config with it);
``main(... --print_config)`` runs the real command line once per fragment.
"""

import inspect
import re
from pathlib import Path

import pytest
import yaml

from lit_mmrec.callbacks import SGURInit
from lit_mmrec.callbacks.early_stopping import DEFAULT_RULE, StoppingRule
from lit_mmrec.cli import MMRecCLI, main
from lit_mmrec.data.datamodule import MMRecDataModule
from lit_mmrec.init.options import AUTHORS_FORM
from lit_mmrec.models.base import RecommenderModule

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
FRAGMENTS = sorted((CONFIGS_DIR / "sgurinit").glob("*.yaml"))
#: the (data set, backbone) configs and the quickstart: everything but the fragments (``sgurinit/*.yaml`` and the
#: other features' fragments at the top level, such as ``cold_items.yaml``)
CONFIGS = sorted(
    c for c in CONFIGS_DIR.rglob("*.yaml") if c.parent.name != "sgurinit" and
    (c.parent != CONFIGS_DIR or c.name == "quickstart.yaml")
)
FEATURE_FRAGMENTS = sorted(c for c in CONFIGS_DIR.glob("*.yaml") if c.name != "quickstart.yaml")


def name(path: Path) -> str:
    return str(path.relative_to(CONFIGS_DIR))


class ParseOnly(MMRecCLI):
    """The CLI's parser, without building the model and data or running anything."""

    def instantiate_classes(self) -> None:
        pass

    def _run_subcommand(self, subcommand: str) -> None:
        pass


@pytest.fixture(scope="module")
def parser():
    cli = ParseOnly(
        RecommenderModule, MMRecDataModule, subclass_mode_model=True, subclass_mode_data=True,
        auto_configure_optimizers=False, args=["fit", "--config", str(CONFIGS_DIR / "quickstart.yaml")],
    )
    return cli.parser


@pytest.fixture(scope="module")
def parsed(parser):
    """Each base config parsed once: ``{path: fit namespace}``."""
    return {config: parser.parse_args(["fit", "--config", str(config)]).fit for config in CONFIGS}


def fragment_callback(fragment: Path) -> dict:
    """The one callback a fragment appends: ``{"class_path": ..., "init_args": {...}}`` (empty init_args when it
    sets none)."""
    callbacks = yaml.safe_load(fragment.read_text())["trainer"]["callbacks+"]
    assert len(callbacks) == 1
    return {"init_args": {}, **callbacks[0]}


def test_the_fragments_are_the_public_forms_and_the_default():
    assert {f.stem for f in FRAGMENTS} == {"item-sum", "item-attention", "user-sum", "user-attention", "default"}
    defaults = {k: v.default for k, v in inspect.signature(SGURInit).parameters.items()}
    for fragment in FRAGMENTS:
        options = fragment_callback(fragment)["init_args"]
        if fragment.stem == "default":
            # the callback's own defaults
            assert options == {}
        else:
            # the authors' forms, without centring
            recipe = {**defaults, **options}
            assert f"{recipe['cluster_on']}-{recipe['fusion']}" == fragment.stem
            assert {k: options[k] for k in AUTHORS_FORM} == AUTHORS_FORM


def test_no_copied_sgurinit_configs_are_left():
    assert not [name(c) for c in CONFIGS if "sgurinit" in c.stem]


@pytest.mark.parametrize("config", CONFIGS, ids=name)
def test_config_parses(config, parsed):
    fit = parsed[config]
    assert fit.model.class_path.startswith("lit_mmrec.models.")
    assert fit.data.class_path.startswith("lit_mmrec.data.")
    assert not fit.trainer.callbacks, "SG-URInit and other callbacks come from fragments, not the base configs"


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda f: f.stem)
def test_every_fragment_composes_with_every_backbone_and_data_set(fragment, parser, parsed):
    """A fragment adds one callback and nothing else, so one config per backbone and one per data set folder
    cover every model and data section the configs hold (``test_config_parses`` parses every config)."""
    expected = fragment_callback(fragment)
    first_of_model = {parsed[c].model.class_path: c for c in reversed(CONFIGS)}
    first_of_folder = {c.parent: c for c in reversed(CONFIGS)}
    for config in sorted(set(first_of_model.values()) | set(first_of_folder.values())):
        base = parsed[config]
        composed = parser.parse_args(["fit", "--config", str(config), "--config", str(fragment)]).fit
        callbacks = composed.trainer.callbacks
        assert [c.class_path for c in callbacks] == [expected["class_path"]], name(config)
        init_args = vars(callbacks[0].init_args)
        assert {k: init_args[k] for k in expected["init_args"]} == expected["init_args"], name(config)
        # nothing else changes
        assert composed.model == base.model and composed.data == base.data, name(config)
        assert composed.trainer.max_epochs == base.trainer.max_epochs, name(config)


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda f: f.stem)
def test_a_fragment_appends_to_configured_callbacks(fragment, parser, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.LearningRateMonitor\n")
    args = ["fit", "--config", str(CONFIGS_DIR / "quickstart.yaml"), "--config", str(other), "--config", str(fragment)]
    callbacks = parser.parse_args(args).fit.trainer.callbacks
    assert [c.class_path for c in callbacks] == [
        "lightning.pytorch.callbacks.LearningRateMonitor",
        "lit_mmrec.callbacks.SGURInit",
    ]


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda f: f.stem)
def test_train_py_prints_the_composed_config(fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS_DIR / "baby" / "freedom.yaml"), "--config", str(fragment), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] == "lit_mmrec.models.freedom.FREEDOM"
    (callback,) = printed["trainer"]["callbacks"]
    expected = fragment_callback(fragment)
    assert callback["class_path"] == expected["class_path"]
    assert {k: callback["init_args"][k] for k in expected["init_args"]} == expected["init_args"]


#: the header's statement of the stopping rule, e.g. "Early stopping on val/recall@20: rule warmup50_patience50
#: (train.py's default), patience 50 after a 50-epoch warm-up" or "...: patience 5 from the first epoch"
STOPPING = re.compile(
    r"Early stopping on val/recall@20: (?:rule (?P<rule>[\w-]+)(?P<default> \(train\.py's default\))?, )?"
    r"patience (?P<patience>\d+) (?:after a (?P<warmup>\d+)-epoch warm-up|from the first epoch)"
)


def header(path: Path) -> str:
    """The comment block a config starts with, as one line of text."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


@pytest.mark.parametrize("config", CONFIGS, ids=name)
def test_the_header_states_the_stopping_rule_the_run_uses(config, parsed):
    text = header(config)
    statements = list(STOPPING.finditer(text))
    assert len(statements) == 1, f"{name(config)}: state the stopping rule once, as {STOPPING.pattern}"
    assert len(re.findall(r"patience \d+", text)) == 1, f"{name(config)}: another patience is stated"
    stated = statements[0]
    rule = StoppingRule(**parsed[config].early_stopping.as_dict())  # the rule the run builds
    assert rule.patience == int(stated["patience"]), name(config)
    assert rule.warmup == int(stated["warmup"] or 0), name(config)
    assert rule.rule_name == stated["rule"], name(config)
    assert bool(stated["default"]) == (stated["rule"] == DEFAULT_RULE), name(config)


def test_a_wrong_statement_fails_the_check(parser, tmp_path):
    config = tmp_path / "stale.yaml"
    config.write_text((CONFIGS_DIR / "ml100k" / "lightgcn.yaml").read_text().replace("patience 50", "patience 20", 1))
    stated = STOPPING.search(header(config))
    rule = StoppingRule(**parser.parse_args(["fit", "--config", str(config)]).fit.early_stopping.as_dict())
    assert stated is not None and rule.patience != int(stated["patience"])


@pytest.mark.parametrize("config", CONFIGS, ids=name)
def test_data_lives_inside_the_checkout_and_comments_speak_in_the_present(config, parsed):
    data_dir = parsed[config].data.init_args.get("data_dir")
    if data_dir is not None:
        assert Path(data_dir).parts[0] == "data" and ".." not in Path(data_dir).parts, name(config)
    assert not re.search(r"(round|issue) \d|previous\sdefault|shared/data", config.read_text()), name(config)


@pytest.mark.parametrize("fragment", FEATURE_FRAGMENTS, ids=lambda f: f.name)
def test_each_feature_fragment_composes_after_a_config(fragment, parser):
    config = parser.parse_args(["fit", "--config", str(CONFIGS_DIR / "quickstart.yaml"), "--config", str(fragment)])
    added = [c.class_path for c in config.fit.trainer.callbacks]
    expected = yaml.safe_load(fragment.read_text())["trainer"]["callbacks+"]
    assert added[-len(expected):] == [c["class_path"] for c in expected]
