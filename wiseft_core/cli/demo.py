"""``wiseft demo build [--quick] [--out DIR]``: rebuild the shipped demo pair and its sweep;
``wiseft demo seeds``: check the lesson on other fine-tuning and pretraining seeds (validation draw);
``wiseft demo inspect``: the pointing game, flips and loss landscape of the demo pair."""

from __future__ import annotations

import argparse
from pathlib import Path

from wiseft_core.cli.dispatch import output_folder, positive_int
from wiseft_core.demo.inspection import register_inspect


def _cmd_demo_build(args: argparse.Namespace) -> int:
    from wiseft_core.demo.build import DEFAULT_OUT, build
    from wiseft_core.demo.findings import check_findings, format_findings

    out = output_folder(args.out) if args.out else DEFAULT_OUT
    if args.soups:
        return _demo_soups(out, args)
    build(out, quick=args.quick, quiet=args.quiet, reuse_pretrained=args.reuse_pretrained,
          seeds_work=Path(args.work) if args.work else None, reuse_finetuned=args.reuse_finetuned,
          threads=args.threads)
    if not args.quick:
        print(format_findings(check_findings(out / "sweep.csv")))
    if args.inspect:  # reuses the build's extra fine-tuning seeds (same work folder)
        from wiseft_core.demo.build import default_seeds_work
        from wiseft_core.demo.inspection import build_inspection

        build_inspection(out, Path(args.work) if args.work else default_seeds_work(out), quick=args.quick,
                         quiet=args.quiet)
    return 0


def _demo_soups(out: Path, args: argparse.Namespace) -> int:
    from wiseft_core.demo.soup_results import read_results_csv, soup_findings
    from wiseft_core.demo.soups import RESULTS_CSV, SUBDIR, build_soups
    from wiseft_core.errors import WiseftError

    if not (out / "zeroshot.safetensors").is_file():
        raise WiseftError(f"{out}: no zeroshot.safetensors; run `wiseft demo build` before `--soups`")
    build_soups(out, Path(args.work) / "soups" if args.work else None, quick=args.quick, quiet=args.quiet,
                threads=args.threads, ingredients=args.ingredients)
    for finding in soup_findings(read_results_csv(out / SUBDIR / RESULTS_CSV)):
        print(f"[{'ok' if finding.holds else 'NO'}] {finding.name}: {finding.detail}")
    return 0


def _ingredient_count(text: str) -> int:
    if not text.isdigit() or int(text) < 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, at least 3")
    return int(text)


def _seed_list(text: str) -> list[int]:
    from wiseft_core.errors import WiseftError

    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise WiseftError(f"seeds {text!r}: expected a comma list of integers, e.g. 0,1,2") from None
    if not seeds or min(seeds) < 0:
        raise WiseftError(f"seeds {text!r}: expected a comma list of non-negative integers, e.g. 0,1,2")
    return list(dict.fromkeys(seeds))


def _cmd_demo_seeds(args: argparse.Namespace) -> int:
    import sys

    from wiseft_core.demo.build import DEFAULT_OUT, default_seeds_work
    from wiseft_core.demo.seeds import SEEDS_MD, run_seeds

    out = output_folder(args.out) if args.out else DEFAULT_OUT
    work = output_folder(args.work, "--work") if args.work else default_seeds_work(out)
    results = run_seeds(out, work, _seed_list(args.pretrain_seeds), _seed_list(args.finetune_seeds),
                        quick=args.quick, quiet=args.quiet, log=lambda m: print(m, file=sys.stderr, flush=True),
                        threads=args.threads)
    print((out / SEEDS_MD).read_text(encoding="utf-8"))
    return 0 if all(r.holds for r in results) or args.quick else 1


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="the offline demo world (a tiny CLIP trained on generated shapes)")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    p = demo_sub.add_parser("build", help="generate, pretrain, fine-tune and sweep the demo pair (~25 min on 2 cores)")
    p.add_argument("--quick", action="store_true", help="a tiny build in about a minute (for tests; no findings)")
    p.add_argument("--out", default=None, help="output folder (default: assets/demo of this checkout)")
    p.add_argument("--reuse-pretrained", action="store_true",
                   help="keep OUT/pretrained_clip.safetensors if it was pretrained with the same recipe")
    p.add_argument("--reuse-finetuned", action="store_true",
                   help="also keep OUT's zero-shot and fine-tuned checkpoints (and cached seeds) made from that CLIP "
                   "with the same recipe: after changing only the shift generators, only the sweeps run")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads of pair generation and sweeps (default 2; 1 on a busy machine); training "
                   "always runs on one, so a rebuild reproduces the shipped weights")
    p.add_argument("--quiet", action="store_true", help="no progress bars (the build log still prints)")
    p.add_argument("--work", default=None, help="where the extra fine-tuning seeds are kept for `wiseft demo seeds` "
                   "(default: a folder in the system temp dir)")
    p.add_argument("--inspect", action="store_true",
                   help="then `wiseft demo inspect`: pointing game, flips and the loss landscape, pretraining the "
                   "second CLIP (pretraining seed 1) for the barrier path when it is missing")
    p.add_argument("--soups", action="store_true",
                   help="only the model-soups step on OUT's zero-shot model: fine-tunes from a random "
                   "hyper-parameter search (kept in the work folder), their uniform and greedy soups, WiSE-FT to "
                   "the soups and the plane through zero-shot and two fine-tunes, into OUT/soups (~30 min on 2 cores)")
    p.add_argument("--ingredients", type=_ingredient_count, default=None,
                   help="with --soups: how many fine-tunes of the random search (default 8; the shipped one first)")
    p.set_defaults(func=_cmd_demo_build)
    s = demo_sub.add_parser("seeds", help="criteria 2-4 on the validation draw for several fine-tuning and "
                            "pretraining seeds (writes SEEDS.md and seeds_val.csv)")
    s.add_argument("--finetune-seeds", default="0,1,2", help="comma list (default 0,1,2)")
    s.add_argument("--pretrain-seeds", default="0,1",
                   help="comma list (default 0,1); the build's seed uses OUT/pretrained_clip.safetensors, another "
                   "seed OUT/pretrained_clip_seed<N>.safetensors (pretrained when missing: about 15 min on 2 cores)")
    s.add_argument("--out", default=None, help="the demo folder (default: assets/demo of this checkout)")
    s.add_argument("--work", default=None, help="where fine-tunes are kept for reuse (default: a folder in the "
                   "system temp dir, shared with `wiseft demo build`)")
    s.add_argument("--quick", action="store_true", help="tiny sizes and steps (for tests; exit 0 whatever holds)")
    s.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads of the sweeps (default 2; 1 on a busy machine; training uses one)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=_cmd_demo_seeds)
    register_inspect(demo_sub)
