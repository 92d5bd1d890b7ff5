"""``python -m lit_mmrec.experiments``: the paper's table (``table``) and sensitivity sweeps (``sweep``).

    python -m lit_mmrec.experiments table --datasets ml100k synthetic --models lightgcn freedom \\
        --inits random item-sum user-attention --seeds 999 1 2 --jobs 2 --out results/main
    python -m lit_mmrec.experiments sweep --dataset ml100k --model lightgcn \\
        --param n_clusters 5 10 20 50 --seeds 999 1 2 --out results/sweep_lightgcn

Everything after ``--`` is passed to every ``train.py fit`` (e.g. ``-- --trainer.accelerator cpu``).
Running the same command again skips finished runs and resumes interrupted ones.

Threads: each of the ``--jobs N`` runs gets max(1, cores // N) threads (its OMP_NUM_THREADS and
MKL_NUM_THREADS) unless OMP_NUM_THREADS is set in the environment, which is then passed on unchanged.
Paths in runs.json and in the runs' config.yaml and train.log are relative to the working folder
(--workdir, the repository root by default), so --report_only works on any machine.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from lit_mmrec.errors import InputError, error_line
from lit_mmrec.experiments import reports
from lit_mmrec.experiments.runner import ROOT, RunSpec, RunStore, Settings, run_all
from lit_mmrec.experiments.sweep import sweep_specs
from lit_mmrec.experiments.variants import parse_variant


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", nargs="+", type=int, default=[999], help="seeds (model, sampling, SG-URInit)")
    parser.add_argument("--out", type=Path, required=True, help="result folder (runs.json, reports, runs/)")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time; each gets max(1, cores // N) threads "
                        "(OMP_NUM_THREADS, MKL_NUM_THREADS) unless OMP_NUM_THREADS is set")
    parser.add_argument("--max_epochs", type=int, default=None, help="override the configs' trainer.max_epochs")
    parser.add_argument("--configs", type=Path, default=ROOT / "configs", help="folder of <dataset>/<model>.yaml")
    parser.add_argument("--workdir", type=Path, default=Path("."), help="working folder of the train.py runs")
    parser.add_argument("--logs", type=Path, default=Path("logs/experiments"), help="CSVLogger folder")
    parser.add_argument("--cold_start", nargs="*", type=int, default=[0, 1, 5, 10],
                        help="item cold start: test items with at most N training interactions (none: skip)")
    parser.add_argument("--report_only", action="store_true", help="write the reports from runs.json, run nothing")
    parser.add_argument("--continue_from", type=Path, default=None, metavar="DIR",
                        help="continue every run from the finished run of the same data set, backbone, init and seed "
                             "in the study at DIR (its checkpoints and logs, under the same --workdir and --logs, "
                             "are hard-linked or copied), e.g. under a longer stopping rule given after --: training is "
                             "deterministic, so the result is the run trained that way from the start")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_mmrec.experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("table", help="every (data set, backbone, init, seed): table, convergence, cold start")
    table.add_argument("--datasets", nargs="+", required=True, help="config folders, e.g. ml100k synthetic")
    table.add_argument("--models", nargs="+", required=True, help="backbones, e.g. lightgcn freedom")
    table.add_argument("--inits", nargs="+", default=["random", "default"],
                       help="random, default[,key=value...] (the product's recipe, configs/sgurinit/default.yaml) "
                            "or a published form <cluster_on>-<fusion>[,key=value...], e.g. item-sum user-attention")
    add_common(table)
    sweep = commands.add_parser("sweep", help="one SG-URInit option over several values, plus random")
    sweep.add_argument("--dataset", required=True)
    sweep.add_argument("--model", required=True)
    sweep.add_argument("--param", nargs="+", required=True, metavar=("NAME", "VALUE"),
                       help="an SGURInit option and its values, e.g. n_clusters 5 10 20 50; weight 0 0.5 1")
    sweep.add_argument("--base", default="item-sum", help="the variant whose option is swept")
    sweep.add_argument("--no_random", action="store_true", help="do not train the random baseline")
    add_common(sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the command that produces the runs (``--report_only`` only rewrites the reports)
    shown = "python -m lit_mmrec.experiments " + shlex.join(a for a in argv if a != "--report_only")
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[: argv.index("--")]
    parser = build_parser()
    args = parser.parse_args(argv)
    study = args.out.name
    sweep = None
    try:
        if args.command == "table":
            variants = [parse_variant(v) for v in args.inits]
            specs = [RunSpec(study, d, m, v, s) for d in args.datasets for m in args.models for v in variants
                     for s in args.seeds]
        else:
            if len(args.param) < 2:
                parser.error("--param needs a name and at least one value")
            name, *values = args.param
            sweep = (name, values)
            specs = sweep_specs(study, args.dataset, args.model, parse_variant(args.base), name, values,
                                        args.seeds, with_random=not args.no_random)
    except ValueError as error:
        parser.error(str(error))
    settings = Settings(
        out=args.out, configs=args.configs, workdir=args.workdir, logs=args.logs, max_epochs=args.max_epochs,
        cold_start=tuple(args.cold_start), extra=tuple(extra), continue_from=args.continue_from,
    )
    store = RunStore(args.out / "runs.json")
    if not args.report_only:
        try:
            run_all(specs, settings, store, args.jobs)
        except (InputError, ValueError, FileNotFoundError) as error:
            print(error_line(error), file=sys.stderr)
            return 2
    written = reports.write_reports(specs, store, args.out, shown, sweep)
    for path in written:
        print(f"wrote {path}")
    failed = [s.name for s in specs if store.records.get(s.name, {}).get("status") == "failed"]
    if failed:
        print(f"{len(failed)} runs failed (run the same command again to retry): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
