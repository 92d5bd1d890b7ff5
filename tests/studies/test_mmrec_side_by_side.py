"""The side-by-side study's own code: MMRec's log parsed, its patches applied to MMRec's files (where the mirror is
present), the phase timer's two timings, and the committed table regenerated from the committed runs.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from lightning.pytorch.demos.boring_classes import BoringModel

from studies import mmrec_side_by_side as sbs

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / sbs.OUT

LOG = """\
07 Dec 06:35    INFO epoch 0 training [time: 2.55s, train loss: 55136.3577]
07 Dec 06:35    INFO epoch 0 evaluating [time: 0.08s, valid_score: 0.105300]
07 Dec 06:35    INFO valid result:
recall@20: 0.1053    ndcg@20: 0.0801
07 Dec 06:35    INFO test result:
recall@20: 0.0927    ndcg@20: 0.0766
07 Dec 06:35    INFO ██ LayerGCN--Best validation results updated!!!
07 Dec 06:35    INFO epoch 1 training [time: 2.65s, train loss: 35121.5164]
07 Dec 06:35    INFO epoch 1 evaluating [time: 0.12s, valid_score: 0.110000]
07 Dec 06:35    INFO valid result:
recall@20: 0.1100    ndcg@20: 0.0810
07 Dec 06:35    INFO test result:
recall@20: 0.0950    ndcg@20: 0.0770
07 Dec 06:35    INFO ██ LayerGCN--Best validation results updated!!!
07 Dec 06:35    INFO epoch 2 training [time: 2.60s, train loss: 30000.0000]
07 Dec 06:35    INFO epoch 2 evaluating [time: 0.10s, valid_score: 0.100000]
07 Dec 06:35    INFO valid result:
recall@20: 0.1000    ndcg@20: 0.0700
07 Dec 06:35    INFO test result:
recall@20: 0.0990    ndcg@20: 0.0790
07 Dec 06:35    INFO best valid result: recall@20: 0.1100    ndcg@20: 0.0810
07 Dec 06:35    INFO test result: recall@20: 0.0950    ndcg@20: 0.0770
07 Dec 06:35    INFO
============All Over=====================
"""


def test_parse_log_reads_the_best_valid_epoch_and_the_mean_timings():
    found = sbs.parse_log(LOG)
    assert found["epochs"] == 3
    assert found["best_epoch"] == 1
    assert found["valid"] == {"recall@20": 0.11, "ndcg@20": 0.081}
    assert found["test"] == {"recall@20": 0.095, "ndcg@20": 0.077}
    assert found["train_s"] == pytest.approx(2.6)
    assert found["eval_s"] == pytest.approx(0.1)
    assert found["finished"]


def test_parse_log_of_a_running_log_has_no_result():
    found = sbs.parse_log(LOG.split("07 Dec 06:35    INFO best valid")[0])
    assert found["test"] is None and not found["finished"] and found["epochs"] == 3


def test_guard_indents_a_block_under_the_image_test():
    old, new = sbs.guard("        a = 1\n\n        b = 2\n")
    assert old == "        a = 1\n\n        b = 2\n"
    assert new == "        if self.v_feat is not None:\n            a = 1\n\n            b = 2\n"


@pytest.mark.parametrize("model", sbs.MODELS)
def test_every_patch_matches_the_original_source_as_often_as_it_says(model, tmp_path):
    if not sbs.MIRRORS[model].is_dir():
        pytest.skip(f"the mirror of {model}'s original code is not on this machine")
    sbs.export(model, tmp_path / "mmrec")
    root = tmp_path / "mmrec" / sbs.ROOTS.get(model, "src")
    for name, _, new, _, _ in sbs.patches_of(model):
        assert new in (root / name).read_text()
    for name in sorted({name for name, *_ in sbs.patches_of(model)}):
        subprocess.run([sys.executable, "-m", "py_compile", str(root / name)], check=True)


def test_patches_of_an_mmrec_model_include_mmrec_common_edits_and_of_cohesion_its_own():
    assert sbs.patches_of("pgl")[: len(sbs.PATCHES["common"])] == sbs.PATCHES["common"]
    cohesion_files = {name for name, *_ in sbs.patches_of("cohesion")}
    assert {"utils_package/dataset.py", "utils_package/metrics.py", "models/cohesion.py"} <= cohesion_files
    assert not cohesion_files & {name for name, *_ in sbs.PATCHES["common"]}


MMSSL_LOG = """\
2026-12-07 13:55:  Epoch 0 [55.1s]: train==[43.05518=25.07909 + 0.01291 + 0.00000  + 0.00000]
2026-12-07 13:55:  Epoch 0 [55.1s + 0.6s]: train==[43.05518=25.07909 + 0.01291 + 0.00000], \
recall=[0.09691, 0.15899, 0.29574, 0.29574], precision=[0.06225, 0.05520, 0.04467, 0.04467], \
hit=[0.38176, 0.53552, 0.74549, 0.74549], ndcg=[0.13062, 0.18291, 0.28488, 0.28488]
2026-12-07 13:55:  Test_Recall@20: 0.12692,  precision=[0.05143], ndcg=[0.18134]
2026-12-07 13:56:  Epoch 1 [53.1s]: train==[40.0=24.0 + 0.01 + 0.00000  + 0.00000]
2026-12-07 13:56:  Epoch 1 [53.1s + 0.8s]: train==[40.0=24.0 + 0.01 + 0.00000], \
recall=[0.09000, 0.15000, 0.29000, 0.29000], precision=[0.06, 0.05, 0.04, 0.04], \
hit=[0.38, 0.53, 0.74, 0.74], ndcg=[0.13, 0.17000, 0.28, 0.28]
2026-12-07 13:56:  #####Early stopping steps: 1 #####
2026-12-07 13:56:  {'precision': array([0.06, 0.05, 0.04]), 'recall': array([0.07, 0.12692, 0.24]), \
'ndcg': array([0.13, 0.18134, 0.27]), 'hit_ratio': array([0.38, 0.50, 0.71]), 'auc': 0.0}
"""


def test_parse_mmssl_log_reads_the_test_of_the_last_validation_improvement_and_the_mean_timings():
    found = sbs.parse_mmssl_log(MMSSL_LOG)
    assert found["epochs"] == 2 and found["best_epoch"] == 0 and found["finished"]
    assert found["valid"] == {"recall@20": 0.15899, "ndcg@20": 0.18291}
    assert found["test"] == {"recall@20": 0.12692, "ndcg@20": 0.18134}
    assert found["train_s"] == pytest.approx(54.1)
    assert found["eval_s"] == pytest.approx(0.7)
    assert not sbs.parse_mmssl_log(MMSSL_LOG.split("2026-12-07 13:56:  {")[0])["finished"]


def write_tiny_split(data: Path) -> None:
    """Four users, five items: train (0), valid (1) and test (2) rows, and 3-d text features."""
    rows = [(0, 0, 0), (0, 1, 0), (0, 2, 1), (0, 3, 2), (1, 1, 0), (1, 4, 2), (2, 0, 0), (2, 2, 0), (2, 4, 1),
            (3, 3, 0)]
    data.mkdir()
    (data / "ml100k.inter").write_text(
        "userID\titemID\trating\ttimestamp\tx_label\n" + "".join(f"{u}\t{i}\t5\t0\t{x}\n" for u, i, x in rows))
    np.save(data / "text_feat.npy", np.arange(15, dtype=np.float32).reshape(5, 3))


def test_mmssl_data_holds_our_split_in_its_three_json_files_its_train_matrix_and_features(tmp_path):
    import pickle

    write_tiny_split(tmp_path / "data")
    sbs.write_mmssl_data(tmp_path / "data", tmp_path / "ml100k")
    parts = [json.loads((tmp_path / "ml100k" / name).read_text()) for name in ("train.json", "val.json", "test.json")]
    assert parts == [{"0": [0, 1], "1": [1], "2": [0, 2], "3": [3]}, {"0": [2], "2": [4]}, {"0": [3], "1": [4]}]
    with open(tmp_path / "ml100k" / "train_mat", "rb") as handle:
        matrix = pickle.load(handle)
    assert matrix.shape == (4, 5) and matrix.dtype == np.float32
    assert matrix.toarray().tolist() == [[1, 1, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 1, 0]]
    for name in ("text_feat.npy", "image_feat.npy"):
        assert np.array_equal(np.load(tmp_path / "ml100k" / name), np.load(tmp_path / "data" / "text_feat.npy"))


def test_mmssl_load_data_reads_the_converted_split(tmp_path):
    if not sbs.MIRRORS["mmssl"].is_dir():
        pytest.skip("the mirror of MMSSL's original code is not on this machine")
    sbs.export("mmssl", tmp_path / "original")
    write_tiny_split(tmp_path / "data")
    sbs.write_mmssl_data(tmp_path / "data", tmp_path / "ml100k")
    # load_data.py parses the command line at import: a process of its own, from its folder
    script = ("import json, sys; sys.argv = ['x']; from utility.load_data import Data; "
              f"d = Data({str(tmp_path / 'ml100k')!r}, 2); "
              "print(json.dumps([d.n_users, d.n_items, d.n_train, d.n_test, sorted(d.exist_users), "
              "{str(k): v for k, v in d.val_set.items()}, {str(k): v for k, v in d.test_set.items()}]))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "original" / "MMSSL", check=True,
                            capture_output=True, text=True)
    found = json.loads(result.stdout.splitlines()[-1])
    assert found == [4, 5, 6, 2, [0, 1, 2, 3], {"0": [2], "2": [4]}, {"0": [3], "1": [4]}]


def test_user_graph_dict_lists_every_user_and_the_users_sharing_most_training_items(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = [(0, 0, 0), (0, 1, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0), (2, 2, 1), (3, 3, 0), (3, 0, 2)]
    (data / "ml100k.inter").write_text(
        "userID\titemID\trating\ttimestamp\tx_label\n" + "".join(f"{u}\t{i}\t5\t0\t{x}\n" for u, i, x in rows))
    sbs.write_user_graph_dict(data, tmp_path / "user_graph_dict.npy")
    graph = np.load(tmp_path / "user_graph_dict.npy", allow_pickle=True).item()
    # training rows only: user 3's test item 0 and user 2's valid item 2 share nothing
    assert graph == {0: [[1, 2], [2.0, 1.0]], 1: [[0, 2], [2.0, 1.0]], 2: [[0, 1], [1.0, 1.0]], 3: [[], []]}


def test_phase_timer_logs_training_and_evaluation_seconds_every_epoch(tmp_path):
    model = BoringModel()
    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=2,
                        callbacks=[sbs.PhaseTimer()], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(model)
    metrics = trainer.callback_metrics
    assert float(metrics["time/train_s"]) > 0 and float(metrics["time/eval_s"]) > 0


@pytest.mark.skipif(not (FOLDER / "runs.json").is_file(), reason="no runs recorded")
def test_committed_table_is_the_report_of_the_committed_runs():
    records = json.loads((FOLDER / "runs.json").read_text())
    assert sbs.page(records) == (FOLDER / "table.md").read_text()
