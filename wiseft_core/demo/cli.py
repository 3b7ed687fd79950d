"""``wiseft demo build [--quick] [--out DIR]``: rebuild the shipped demo pair and its sweep."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_demo_build(args: argparse.Namespace) -> int:
    from wiseft_core.demo.build import DEFAULT_OUT, build
    from wiseft_core.demo.findings import check_findings, format_findings

    out = Path(args.out) if args.out else DEFAULT_OUT
    build(out, quick=args.quick, quiet=args.quiet, reuse_pretrained=args.reuse_pretrained)
    if not args.quick:
        print(format_findings(check_findings(out / "sweep.csv")))
    return 0


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="the offline demo world (a tiny CLIP trained on generated shapes)")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    p = demo_sub.add_parser("build", help="generate, pretrain, fine-tune and sweep the demo pair (~25 min on 2 cores)")
    p.add_argument("--quick", action="store_true", help="a tiny build in about a minute (for tests; no findings)")
    p.add_argument("--out", default=None, help="output folder (default: assets/demo of this checkout)")
    p.add_argument("--reuse-pretrained", action="store_true",
                   help="keep OUT/pretrained_clip.safetensors if it was pretrained with the same recipe")
    p.add_argument("--quiet", action="store_true", help="no progress bars (the build log still prints)")
    p.set_defaults(func=_cmd_demo_build)
