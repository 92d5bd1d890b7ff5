import json
import subprocess

from lit_mmrec.experiments import runner
from lit_mmrec.experiments.runner import RunSpec, RunStore, Settings, command, run_all
from lit_mmrec.experiments.runs_json import read_runs
from lit_mmrec.experiments.variants import parse_variant


def spec(variant="random", seed=1):
    return RunSpec("study", "tiny", "lightgcn", parse_variant(variant), seed)


def test_command_resolves_config_and_variant(tiny_configs, tmp_path):
    settings = Settings(out=tmp_path / "out", configs=tiny_configs, workdir=tmp_path, max_epochs=5, extra=("--x", "1"))
    args = command(spec("item-sum", 3), settings, resume=False)
    # paths relative to the working folder the run starts in, so records mean the same on any machine
    assert args[args.index("--config") + 1] == "configs/tiny/lightgcn.yaml"
    assert args[args.index("--trainer.logger.init_args.save_dir") + 1] == "logs/experiments"
    assert not any(a.startswith(str(tmp_path)) for a in args[1:])
    assert args[args.index("--experiment") + 1] == "study_tiny_lightgcn_item-sum_s3"
    assert args[args.index("--seed_everything") + 1] == "3"
    assert args[args.index("--trainer.max_epochs") + 1] == "5"
    # SG-URInit composed from its fragment, as a user would; only the seed (and further options) follow
    sgurinit = args.index("configs/sgurinit/item-sum.yaml")
    assert args[sgurinit - 1] == "--config" and args[sgurinit + 1:sgurinit + 3] == ["--trainer.callbacks.init_args.seed", "3"]
    assert args[-2:] == ["--x", "1"]
    assert "--ckpt_path" not in args
    # the command is the runner's own arguments, then the options a record keeps
    options = runner.run_options(spec("item-sum", 3), settings, resume=False)
    assert options[:2] == ["--config", "configs/sgurinit/item-sum.yaml"] and args[-len(options):] == options
    assert args[1:-len(options)] == runner.runner_arguments(spec("item-sum", 3), settings)
    assert command(spec(), settings, resume=True)[-2:] == ["--ckpt_path", "last"]


def test_finished_runs_are_skipped(tiny_configs, tmp_path, monkeypatch):
    store = RunStore(tmp_path / "out" / "runs.json")
    store.put({"name": spec().name, "status": "done"})
    store.put({"name": spec(seed=2).name, "status": "failed"})
    started = []
    monkeypatch.setattr(runner, "execute", lambda s, *a, **k: started.append(s.name))
    run_all([spec(), spec(seed=2)], Settings(out=tmp_path / "out", configs=tiny_configs), RunStore(store.path))
    assert started == [spec(seed=2).name]  # the failed one is retried, the done one is not
    assert {r["name"] for r in read_runs(store.path)} == {spec().name, spec(seed=2).name}


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
    assert calls[-1][-2:] == ["--ckpt_path", "last"]  # the training command, after code_version's git calls
    assert record["status"] == "failed" and record["error"] == ["error: stopped"]
    # the record keeps the options beyond those the runner derives from the record itself
    assert record["options"] == ["--ckpt_path", "last"] and "command" not in record


def test_each_job_gets_its_share_of_the_cores_unless_the_user_set_threads():
    assert runner.thread_share(2, cores=2) == 1 and runner.thread_share(3, cores=8) == 2
    assert runner.thread_share(4, cores=2) == 1  # never 0
    env = runner.child_environment(2, {"PATH": "/bin"}, cores=8)
    assert env["OMP_NUM_THREADS"] == "4" and env["MKL_NUM_THREADS"] == "4" and env["PATH"] == "/bin"
    assert runner.child_environment(2, {"OMP_NUM_THREADS": "3"}, cores=8) == {"OMP_NUM_THREADS": "3"}


def test_relative_text_strips_roots_and_interpreter_paths():
    text = ("at /work/study/checkpoints/r/best.ckpt\n"
            "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/lightning/x.py:21: warn\n"
            "/work/study-2/configs/a.yaml /work/study/b")
    assert runner.relative_text(text, ["/work/study", "/work/study-2/"]) == (
        "at checkpoints/r/best.ckpt\nsite-packages/lightning/x.py:21: warn\nconfigs/a.yaml b"
    )


def test_relativise_study_rewrites_runs_json_config_and_log(tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (tmp_path / "runs.json").write_text('{"runs": [{"config": "/m/configs/a.yaml"}]}\n')
    (run / "config.yaml").write_text("save_dir: /m/logs/experiments\n")
    (run / "train.log").write_text("no path\n")
    changed = runner.relativise_study(tmp_path, ["/m"])
    assert changed == [tmp_path / "runs.json", run / "config.yaml"]
    assert json.loads((tmp_path / "runs.json").read_text()) == {"runs": [{"config": "configs/a.yaml"}]}
    assert (run / "config.yaml").read_text() == "save_dir: logs/experiments\n"


def test_retarget_checkpoint_moves_the_best_record_and_refuses_a_stray_folder(tmp_path):
    import pytest
    import torch

    old, new = tmp_path / "old", tmp_path / "new"
    best = f"{old.resolve()}/best-epoch=003.ckpt"
    state = {"dirpath": str(old.resolve()), "best_model_path": best, "best_k_models": {best: 0.2}}
    torch.save({"state_dict": {}, "callbacks": {"ModelCheckpoint{'monitor': 'val'}": state,
                                                "EarlyStopping{}": {"path": best}}}, tmp_path / "last.ckpt")
    runner.retarget_checkpoint(tmp_path / "last.ckpt", tmp_path / "moved.ckpt", old, new)
    moved = torch.load(tmp_path / "moved.ckpt", weights_only=False)["callbacks"]
    assert moved["ModelCheckpoint{'monitor': 'val'}"] == {
        "dirpath": str(new.resolve()), "best_model_path": f"{new.resolve()}/best-epoch=003.ckpt",
        "best_k_models": {f"{new.resolve()}/best-epoch=003.ckpt": 0.2}}
    assert moved["EarlyStopping{}"] == {"path": best}  # other callbacks untouched
    state["dirpath"] = "/elsewhere"
    torch.save({"state_dict": {}, "callbacks": {"ModelCheckpoint{'monitor': 'val'}": state}}, tmp_path / "stray.ckpt")
    with pytest.raises(FileNotFoundError, match="saved in /elsewhere"):
        runner.retarget_checkpoint(tmp_path / "stray.ckpt", tmp_path / "out.ckpt", old, new)
    assert not (tmp_path / "out.ckpt").exists()


def test_code_version_names_the_commit_and_marks_uncommitted_code(tmp_path):
    import shutil

    import pytest

    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    assert runner.code_version(tmp_path) is None  # not a checkout
    (tmp_path / "lit_mmrec").mkdir()
    (tmp_path / "lit_mmrec" / "model.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("a\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert runner.code_version(tmp_path) == head
    (tmp_path / "notes.md").write_text("b\n")  # not code: the runs are still that commit's
    assert runner.code_version(tmp_path) == head
    (tmp_path / "lit_mmrec" / "model.py").write_text("x = 2\n")
    assert runner.code_version(tmp_path) == head + "+changes"
