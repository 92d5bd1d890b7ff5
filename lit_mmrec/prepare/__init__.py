"""Data preparation: public raw releases -> the MMRec layout (``python -m lit_mmrec.prepare``).

One module per job:

- :mod:`~lit_mmrec.prepare.readers`: streaming line readers (gzip or not) and :class:`RawFormatError`;
- :mod:`~lit_mmrec.prepare.fetch`: release archives (download with a pinned SHA-256, unpack);
- :mod:`~lit_mmrec.prepare.interactions`: de-duplication, k-core, contiguous ids, MMRec's split;
- :mod:`~lit_mmrec.prepare.image_features`: Amazon's ``image_features_<Category>.b`` files;
- :mod:`~lit_mmrec.prepare.text`: item texts -> vectors (sentence-transformers, optional extra);
- :mod:`~lit_mmrec.prepare.amazon`, :mod:`~lit_mmrec.prepare.movielens`, :mod:`~lit_mmrec.prepare.tiktok`:
  one pipeline per source;
- :mod:`~lit_mmrec.prepare.layout`: writing the folder; :mod:`~lit_mmrec.prepare.check`: its statistics.
"""

from lit_mmrec.prepare.amazon import prepare_amazon
from lit_mmrec.prepare.check import dataset_report, format_report
from lit_mmrec.prepare.layout import PrepareResult
from lit_mmrec.prepare.movielens import prepare_movielens
from lit_mmrec.prepare.readers import RawFormatError
from lit_mmrec.prepare.text import DEFAULT_TEXT_MODEL, MissingDependencyError, sentence_transformer_encoder
from lit_mmrec.prepare.tiktok import prepare_tiktok

__all__ = [
    "DEFAULT_TEXT_MODEL",
    "MissingDependencyError",
    "PrepareResult",
    "RawFormatError",
    "dataset_report",
    "format_report",
    "prepare_amazon",
    "prepare_movielens",
    "prepare_tiktok",
    "sentence_transformer_encoder",
]
