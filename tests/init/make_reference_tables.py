"""Writes ``tests/init/reference_tables.npz``: the user tables SG-URInit writes into LightGCN (one ID table),
VBPR (an ID table and a feature-space table) and GRCN (an ID table and one preference table per modality) on a
small generated data set, for every fragment of ``configs/sgurinit/``. ``test_reference_tables.py`` compares
the current code's tables with them. Run from the repository root:
``python tests/init/make_reference_tables.py [out.npz]``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lit_mmrec.callbacks import SGURInit  # noqa: E402
from lit_mmrec.data.datamodule import MMRecDataModule  # noqa: E402
from lit_mmrec.data.synthetic import SyntheticSpec, generate_synthetic  # noqa: E402
from lit_mmrec.models.grcn import GRCN  # noqa: E402
from lit_mmrec.models.lightgcn import LightGCN  # noqa: E402
from lit_mmrec.models.vbpr import VBPR  # noqa: E402

FRAGMENTS = ("default", "item-sum", "item-attention", "user-sum", "user-attention")
#: backbone and its arguments besides the data's shape: every table ``EMBEDDING_DIM`` wide
BACKBONES = {"lightgcn": (LightGCN, {}), "vbpr": (VBPR, {}), "grcn": (GRCN, {"latent_dim": 4})}
SPEC = SyntheticSpec(num_users=16, num_items=30, modalities={"image": 12, "text": 6}, seed=7)
EMBEDDING_DIM = 4
SEED = 5
#: fewer clusters than the fragments' K = 20: the data set has 16 users and 30 items
N_CLUSTERS = 3


def fragment_options(fragment: str) -> dict:
    """The init_args a fragment gives the SGURInit callback."""
    text = (ROOT / "configs" / "sgurinit" / f"{fragment}.yaml").read_text()
    return yaml.safe_load(text)["trainer"]["callbacks+"][0].get("init_args") or {}


def tables(data_dir: Path) -> dict[str, np.ndarray]:
    """``{"<fragment>/<backbone>/<table>": rows}`` for every fragment and backbone."""
    dataset = MMRecDataModule(str(data_dir)).dataset
    result = {}
    for fragment in FRAGMENTS:
        callback = SGURInit(**{**fragment_options(fragment), "n_clusters": N_CLUSTERS}, seed=SEED)
        for name, (backbone, arguments) in BACKBONES.items():
            torch.manual_seed(0)
            model = backbone(num_users=dataset.num_users, num_items=dataset.num_items,
                             feature_dims=dataset.feature_dims, embedding_dim=EMBEDDING_DIM, **arguments)
            model.attach(dataset)
            for table, rows in callback.compute(model, dataset, model.user_init_targets()).items():
                result[f"{fragment}/{name}/{table}"] = rows.numpy()
    return result


def main() -> None:
    torch.set_num_threads(1)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("reference_tables.npz")
    with tempfile.TemporaryDirectory() as folder:
        np.savez_compressed(out, **tables(generate_synthetic(SPEC, Path(folder) / "data")))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
