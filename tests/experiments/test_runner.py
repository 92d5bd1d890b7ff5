import json
import subprocess

from lit_mmrec.experiments import runner
from lit_mmrec.experiments.runner import RunSpec, RunStore, Settings, command, run_all
from lit_mmrec.experiments.variants import parse_variant


def spec(variant="random", seed=1):
    return RunSpec("study", "tiny", "lightgcn", parse_variant(variant), seed)


def test_command_resolves_config_and_variant(tiny_configs, tmp_path):
    settings = Settings(out=tmp_path / "out", configs=tiny_configs, workdir=tmp_path, max_epochs=5, extra=("--x", "1"))
    args = command(spec("item-sum", 3), settings, resume=False)
    assert args[args.index("--config") + 1] == str(tiny_configs / "tiny" / "lightgcn.yaml")
    assert args[args.index("--experiment") + 1] == "study_tiny_lightgcn_item-sum_s3"
    assert args[args.index("--seed_everything") + 1] == "3"
    assert args[args.index("--trainer.max_epochs") + 1] == "5"
    assert "--trainer.callbacks+=lit_mmrec.callbacks.SGURInit" in args and args[-2:] == ["--x", "1"]
    assert "--ckpt_path" not in args
    assert command(spec(), settings, resume=True)[-2:] == ["--ckpt_path", "last"]


def test_finished_runs_are_skipped(tiny_configs, tmp_path, monkeypatch):
    store = RunStore(tmp_path / "out" / "runs.json")
    store.put({"name": spec().name, "status": "done"})
    store.put({"name": spec(seed=2).name, "status": "failed"})
    started = []
    monkeypatch.setattr(runner, "execute", lambda s, *a, **k: started.append(s.name))
    run_all([spec(), spec(seed=2)], Settings(out=tmp_path / "out", configs=tiny_configs), RunStore(store.path))
    assert started == [spec(seed=2).name]  # the failed one is retried, the done one is not
    assert {r["name"] for r in json.loads(store.path.read_text())["runs"]} == {spec().name, spec(seed=2).name}


def test_interrupted_run_resumes_from_last_checkpoint(tiny_configs, tmp_path, monkeypatch):
    settings = Settings(out=tmp_path / "out", configs=tiny_configs, workdir=tmp_path)
    (tmp_path / "checkpoints" / spec().name).mkdir(parents=True)
    (tmp_path / "checkpoints" / spec().name / "last.ckpt").write_bytes(b"")
    calls = []

    def fake_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, "", "error: stopped\n")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    record = runner.execute(spec(), settings, RunStore(settings.out / "runs.json"), echo=lambda m: None)
    assert calls[0][-2:] == ["--ckpt_path", "last"]
    assert record["status"] == "failed" and record["error"] == ["error: stopped"]
