"""``wiseft finetune`` and ``wiseft sweep``: thin argparse front-ends over finetune.py and sweep.py.

Both work unchanged under ``torchrun --nproc_per_node N -m wiseft_core ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from wiseft_core.cli.dispatch import add_method_args
from wiseft_core.data.datasets import PATH_KINDS
from wiseft_core.data.world import DISTRIBUTIONS
from wiseft_core.engine.alphas import parse_alphas, parse_ensembles
from wiseft_core.evaluate.sweep import SweepConfig, parse_metrics, run_sweep, summary_for
from wiseft_core.train import distributed
from wiseft_core.train.finetune import FinetuneConfig, finetune

DATASET_HELP = (f"NAME=PATH with NAME in {', '.join(PATH_KINDS)}; or demo:<name> ({', '.join(DISTRIBUTIONS)}; "
                "demo:<name>@val for the validation draw)")
# FinetuneConfig fields that are flags (all but `progress`, which is --quiet).
FINETUNE_FLAGS = [f for f in dataclasses.fields(FinetuneConfig) if "help" in f.metadata]


def _cmd_finetune(args: argparse.Namespace) -> int:
    config = FinetuneConfig(**{f.name: getattr(args, f.name) for f in FINETUNE_FLAGS}, progress=not args.quiet)
    try:
        finetune(config)
    finally:
        distributed.teardown()
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    config = SweepConfig(
        zeroshot=args.zeroshot, finetuned=args.finetuned, evals=args.eval, out=args.out,
        alphas=parse_alphas(args.alphas), ensembles=parse_ensembles(args.ensemble), reference=args.reference,
        finetuning=args.finetuning, batch_size=args.batch_size, workers=args.workers, device=args.device,
        cache_gb=args.cache_gb, objectnet_crop=args.objectnet_crop, progress=not args.quiet,
        metrics=parse_metrics(args.metrics), method=args.method, method_args=args.method_arg,
    )
    try:
        run_sweep(config)
        if distributed.current().is_main:
            print(summary_for(args.out))
    finally:
        distributed.teardown()
    sys.stdout.flush()
    return 0


def _cmd_merge_sweeps(args: argparse.Namespace) -> int:
    from wiseft_core.evaluate.results import format_summary, merge_sweeps, write_sweep_csv

    sources = []
    for item in args.csv:
        label, sep, path = item.partition("=")
        sources.append((label, path) if sep and not Path(item).is_file() else (None, item))
    rows = merge_sweeps(sources)
    write_sweep_csv(args.out, rows)
    print(format_summary(rows))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a zero-shot classifier (end-to-end or linear classifier)")
    length = p.add_mutually_exclusive_group()
    for f in FINETUNE_FLAGS:
        kwargs = dict(f.metadata.get("argparse", {}))
        if f.default is dataclasses.MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        target = length if f.name in ("epochs", "steps") else p
        target.add_argument("--" + f.name.replace("_", "-"), help=f.metadata["help"].format(datasets=DATASET_HELP),
                            **kwargs)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_finetune)

    p = subparsers.add_parser("sweep", help="accuracy vs alpha on a reference dataset and its shifts (CSV)")
    p.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint")
    p.add_argument("--finetuned", required=True, action="append",
                   help="fine-tuned classifier checkpoint (repeat it for a --method merging several fine-tunes)")
    add_method_args(p)
    p.add_argument("--alphas", default="0:1:0.05",
                   help="START:STOP:STEP (STOP included, never exceeded) or a comma list; finite, within [-10, 10], "
                        "at most 10001 alphas")
    p.add_argument("--eval", action="append", required=True, metavar="SPEC", help=DATASET_HELP + " (repeatable)")
    p.add_argument("--reference", default=None,
                   help="the reference dataset (its spec or NAME); default: imagenet, demo:photo, else the first")
    p.add_argument("--ensemble", action="append", default=None, metavar="weights|outputs",
                   help="weight-space and/or output-space ensembles (repeatable or comma list; default weights)")
    p.add_argument("--finetuning", default=None,
                   help="label for the CSV's finetuning column (default: from the fine-tuned checkpoint's recipe)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--objectnet-crop", action=argparse.BooleanOptionalAction, default=True,
                   help="crop ObjectNet's 2-px border before preprocessing (default; the reference code defines "
                        "this crop but never applies it: --no-objectnet-crop reproduces its numbers)")
    p.add_argument("--metrics", default="top1",
                   help="top1 (default) or top1,loss: also the mean cross-entropy (a loss column in the CSV)")
    p.add_argument("--cache-gb", type=float, default=2.0,
                   help="keep preprocessed images of a dataset in memory up to this size (reused per alpha)")
    p.add_argument("--out", required=True, help="results CSV (appended; finished rows are skipped on rerun)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser("merge-sweeps", help="merge sweep CSVs of several runs (e.g. fine-tuning seeds) "
                              "into one, with a seed column; the Curves page shows their spread")
    p.add_argument("csv", nargs="+", metavar="[SEED=]CSV",
                   help="a sweep CSV, labelled with its run's seed (a file's own seed column is kept otherwise)")
    p.add_argument("--out", required=True, help="merged CSV (replaced)")
    p.set_defaults(func=_cmd_merge_sweeps)
