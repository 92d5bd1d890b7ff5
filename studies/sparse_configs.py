"""The configs of a derived data set: every ``configs/<source>/<model>.yaml`` with its data folder replaced.

    python -m studies.sparse_configs --source ml100k --name ml100k_sparse5 --out /work/study33/configs

writes ``<out>/<name>/<model>.yaml`` (``data.init_args.data_dir: data/<name>``, the experiment name prefixed)
and copies ``configs/sgurinit/`` beside it, so that ``python -m lit_mmrec.experiments table --configs <out>
--datasets <name> ...`` runs every backbone on the derived data set with the source's hyperparameters.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="config folder to copy, e.g. ml100k")
    parser.add_argument("--name", required=True, help="the derived data set's name (its folder under data/)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the configs into")
    args = parser.parse_args(argv)
    target = args.out / args.name
    target.mkdir(parents=True, exist_ok=True)
    for config in sorted((ROOT / "configs" / args.source).glob("*.yaml")):
        text = config.read_text()
        old = f"data_dir: data/{args.source}\n"
        if old not in text:
            raise SystemExit(f"error: {config} does not read data/{args.source}")
        text = text.replace(old, f"data_dir: data/{args.name}\n")
        text = text.replace(f"experiment: {args.source}_", f"experiment: {args.name}_")
        (target / config.name).write_text(text)
    shutil.copytree(ROOT / "configs" / "sgurinit", args.out / "sgurinit", dirs_exist_ok=True)


if __name__ == "__main__":
    main()
