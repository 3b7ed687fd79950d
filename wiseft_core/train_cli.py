"""``wiseft finetune`` and ``wiseft sweep``: thin argparse front-ends over finetune.py and sweep.py.

Both work unchanged under ``torchrun --nproc_per_node N -m wiseft_core ...``.
"""

from __future__ import annotations

import argparse
import sys

from wiseft_core import distributed
from wiseft_core.finetune import FinetuneConfig, finetune
from wiseft_core.sweep import SweepConfig, parse_alphas, parse_ensembles, run_sweep, summary_for

DATASET_HELP = ("NAME=PATH with NAME in imagenet, imagenet-v2, imagenet-sketch, imagenet-r, imagenet-a, objectnet, "
                "folder, csv; or demo:<name> (photo, v2, sketch, rendition, objectnet, adversarial; "
                "demo:<name>@val for the validation draw)")


def _cmd_finetune(args: argparse.Namespace) -> int:
    config = FinetuneConfig(
        zeroshot=args.zeroshot, train=args.train, out=args.out, mode=args.mode, lr=args.lr, wd=args.wd,
        epochs=args.epochs, steps=args.steps, warmup=args.warmup, batch_size=args.batch_size,
        label_smoothing=args.label_smoothing, batchnorm=args.batchnorm, grad_clip=args.grad_clip, seed=args.seed,
        device=args.device, workers=args.workers, resume=args.resume, log=args.log, keep_epochs=args.keep_epochs,
        save_dtype=args.save_dtype, progress=not args.quiet,
    )
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
        cache_gb=args.cache_gb, progress=not args.quiet,
    )
    try:
        run_sweep(config)
        if distributed.current().is_main:
            print(summary_for(args.out))
    finally:
        distributed.teardown()
    sys.stdout.flush()
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a zero-shot classifier (end-to-end or linear classifier)")
    p.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint (.safetensors)")
    p.add_argument("--train", required=True, help="training set: " + DATASET_HELP + " (train split)")
    p.add_argument("--mode", choices=("end-to-end", "linear"), default="end-to-end")
    p.add_argument("--out", required=True, help="output folder: epoch checkpoints, finetuned.safetensors, log")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 3e-5 end-to-end, 1e-3 linear)")
    p.add_argument("--wd", type=float, default=0.1, help="AdamW weight decay (default 0.1)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None, help="passes over the training set (default 10)")
    length.add_argument("--steps", type=int, default=None,
                        help="optimizer steps instead of epochs (checkpoints still after every pass over the data)")
    p.add_argument("--warmup", type=int, default=500, help="linear warm-up steps before the cosine decay")
    p.add_argument("--batch-size", type=int, default=512, help="global batch size (split over processes)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--batchnorm", choices=("train", "frozen"), default="train",
                   help="BatchNorm running statistics: updated (train) or fixed (frozen)")
    p.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip (default 1.0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=int, default=0, help="data-loading worker processes")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last complete epoch")
    p.add_argument("--log", default=None, help="JSONL log file (default OUT/train_log.jsonl)")
    p.add_argument("--keep-epochs", type=int, default=0, help="keep only the newest N epoch checkpoints (0: all)")
    p.add_argument("--save-dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                   help="storage dtype of floating tensors in saved checkpoints (loading restores fp32)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_finetune)

    p = subparsers.add_parser("sweep", help="accuracy vs alpha on a reference dataset and its shifts (CSV)")
    p.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint")
    p.add_argument("--finetuned", required=True, help="fine-tuned classifier checkpoint")
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
    p.add_argument("--cache-gb", type=float, default=2.0,
                   help="keep preprocessed images of a dataset in memory up to this size (reused per alpha)")
    p.add_argument("--out", required=True, help="results CSV (appended; finished rows are skipped on rerun)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_sweep)
