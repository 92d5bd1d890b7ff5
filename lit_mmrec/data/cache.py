"""A small on-disk cache for tensors derived from a data set (item kNN graphs, user graphs).

Every entry is keyed by its name, its parameters and a hash of the tensors it was built
from, so a cache can never be reused after the features or the training split changed
(MMRec's FREEDOM reuses ``mm_adj_*.pt`` even then). Entries are written atomically and
read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from lit_mmrec.data.synthetic import default_cache_dir

log = logging.getLogger(__name__)


def tensor_digest(tensors: Iterable[torch.Tensor]) -> str:
    """sha256 over the dtype, shape and bytes of each tensor (sparse tensors via their components)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        if tensor.is_sparse_csr:
            parts = [tensor.crow_indices(), tensor.col_indices(), tensor.values()]
        elif tensor.is_sparse:
            tensor = tensor.coalesce()
            parts = [tensor.indices(), tensor.values()]
        else:
            parts = [tensor]
        for part in parts:
            part = part.detach().cpu().contiguous()
            digest.update(f"{part.dtype}{tuple(part.shape)}".encode())
            digest.update(part.view(torch.uint8).numpy().tobytes() if part.numel() else b"")
    return digest.hexdigest()


def cached(
    name: str,
    params: dict,
    inputs: Iterable[torch.Tensor],
    build: Callable[[], dict[str, torch.Tensor]],
    cache_dir: str | Path | None = None,
) -> dict[str, torch.Tensor]:
    """Return ``build()``'s tensors, from the cache when an entry with the same key exists.

    Args:
        name: what is cached (e.g. ``"freedom_item_graph"``); part of the file name.
        params: the parameters that determine the result (JSON-serialisable).
        inputs: the tensors the result is computed from.
        build: computes the dict of (dense or sparse COO) tensors on a miss.
        cache_dir: root of the cache; default ``<lit-mmrec cache>/graphs``.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "graphs"
    key = hashlib.sha256((json.dumps(params, sort_keys=True) + tensor_digest(inputs)).encode()).hexdigest()[:20]
    path = root / f"{name}-{key}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception as error:  # a damaged entry is rebuilt, never trusted
            log.warning("ignoring unreadable cache entry %s (%s); rebuilding", path, error)
    result = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=root, prefix=f".{name}-", suffix=".tmp")
        os.close(handle)
        torch.save(result, temporary)
        os.replace(temporary, path)
    except OSError as error:  # a read-only cache only costs the rebuild next time
        log.warning("could not write cache entry %s (%s)", path, error)
    return result
