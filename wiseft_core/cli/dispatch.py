"""The `wiseft` command line: zeroshot, interpolate, predict, inspect, soup (+ finetune, sweep, demo).

Every command is a thin layer over the library. Errors a user can fix exit with status 2 and one
line on stderr; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path

from wiseft_core.engine.alphas import ALPHA_LIMIT
from wiseft_core.errors import WiseftError

# Modules that add their own subcommands through `register(subparsers)`.
COMMAND_MODULES = ("wiseft_core.cli.train", "wiseft_core.cli.demo", "wiseft_core.cli.talk",
                   "wiseft_core.cli.inspection")


def alpha_value(text: str) -> float:
    """argparse type for --alpha: a finite number within [-ALPHA_LIMIT, ALPHA_LIMIT]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {text!r}") from None
    if not math.isfinite(value) or abs(value) > ALPHA_LIMIT:
        raise argparse.ArgumentTypeError(f"alpha must be finite and within [-{ALPHA_LIMIT:g}, {ALPHA_LIMIT:g}], "
                                         f"got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def output_folder(path: str | os.PathLike, flag: str = "--out") -> Path:
    """An output folder argument, refused before any work when it names an existing file."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise WiseftError(f"{flag} {folder} is a file; give a folder (it is created when missing)")
    return folder


def output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """An output file argument, refused before any work when it names an existing folder."""
    target = Path(path)
    if target.is_dir():
        raise WiseftError(f"{flag} {target} is a folder; give a file name to write")
    return target


def _os_error_line(err: OSError) -> str:
    """A failed open/write/mkdir as one line: what, on which path (no traceback: the user can fix it)."""
    where = " -> ".join(str(name) for name in (err.filename, err.filename2) if name is not None)
    return f"{err.strerror or type(err).__name__}: {where}" if where else f"{type(err).__name__}: {err}"


def _check_common_args(args: argparse.Namespace) -> None:
    """Options shared by several commands (some registered by other modules), checked once for all."""
    workers = getattr(args, "workers", None)
    if isinstance(workers, int) and workers < 0:
        raise WiseftError(f"--workers must be 0 (load in the main process) or more, got {workers}")


def _block_alphas(specs: list[str]) -> list[tuple[str, float]]:
    from wiseft_core.engine.blocks import parse_block_alpha

    parsed = [parse_block_alpha(spec) for spec in specs]
    for spec, (_, value) in zip(specs, parsed):
        try:
            alpha_value(str(value))
        except argparse.ArgumentTypeError as err:
            raise WiseftError(f"--block-alpha {spec!r}: {err}") from None
    return parsed


def add_method_args(parser: argparse.ArgumentParser) -> None:
    """``--method NAME --method-arg KEY=VALUE``: how several --finetuned checkpoints make the fine-tuned side."""
    from wiseft_core.engine.merge_methods import DEFAULT_METHOD, METHODS

    parser.add_argument("--method", default=DEFAULT_METHOD, metavar="NAME",
                        help=f"merge method making the fine-tuned side: {', '.join(sorted(METHODS))} (default "
                             f"{DEFAULT_METHOD}); alpha then interpolates from the zero-shot model to it")
    parser.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="a parameter of --method, e.g. density=0.2, scale=0.5, weights=0.3,0.7, seed=1 "
                             "(repeatable)")


def merge_spec_of(args: argparse.Namespace):
    """The validated MergeSpec of --method/--method-arg (make_pair treats wise-ft on one file as the plain pair)."""
    from wiseft_core.engine.merge_methods import make_spec

    return make_spec(args.method, args.method_arg)


def _add_pair_args(parser: argparse.ArgumentParser, merges: bool = False) -> None:
    parser.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint (theta0)")
    if merges:
        parser.add_argument("--finetuned", required=True, action="append",
                            help="fine-tuned classifier checkpoint (theta1); repeat it for a --method merging "
                                 "several fine-tunes (weighted-average, task-arithmetic, ties, dare)")
        add_method_args(parser)
    else:
        parser.add_argument("--finetuned", required=True, help="fine-tuned classifier checkpoint (theta1)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="unpickle files with their own classes (runs code from the file!); not needed for "
                             "wise-ft files, state dicts or safetensors")
    parser.add_argument("--classnames", default=None, metavar="imagenet|FILE",
                        help="class names of a zero-shot side that stores none (a wise-ft file); "
                             "default for those: ImageNet's when the head has 1000 classes")
    _add_activation_arg(parser)


def _add_activation_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--activation", choices=("quickgelu", "gelu"), default=None,
                        help="ViT activation of a state dict that does not say (wise-ft layout): quickgelu for "
                             "OpenAI CLIP, gelu for most open_clip models; never guessed")


def _load_sides(args: argparse.Namespace):
    """Zero-shot and fine-tuned side(s) as LoadedClassifiers (fine-tuned sides may borrow the zero-shot metadata)."""
    from wiseft_core.files.reader import load_classifier

    zeroshot = load_classifier(args.zeroshot, trust_pickle=args.trust_pickle, classnames=args.classnames,
                               activation=args.activation)
    paths = args.finetuned if isinstance(args.finetuned, list) else [args.finetuned]
    return [zeroshot, *(load_classifier(path, trust_pickle=args.trust_pickle, like=zeroshot, activation=args.activation)
                        for path in paths)]


def _cmd_zeroshot(args: argparse.Namespace) -> int:
    from wiseft_core.devices import resolve_device
    from wiseft_core.files.zeroshot import build_zeroshot_checkpoint, load_classnames, load_templates

    output_file(args.out)
    device = resolve_device(args.device)
    classnames = load_classnames(args.classnames)
    templates = load_templates(args.templates)
    start = time.perf_counter()
    build_zeroshot_checkpoint(args.model, classnames, args.templates, args.pretrained, seed=args.seed, device=device,
                              out=args.out)
    print(f"wrote {args.out}: {args.model} ({args.pretrained}), {len(classnames)} classes, "
          f"{len(templates)} templates, {time.perf_counter() - start:.1f}s")
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from wiseft_core.engine.pair import make_pair
    from wiseft_core.files.checkpoints import save_classifier

    block_alphas = _block_alphas(args.block_alpha)
    merge = merge_spec_of(args)
    zeroshot, *finetuned = _load_sides(args)
    pair = make_pair(zeroshot, finetuned, "cpu", merge)
    save_classifier(args.out, *pair.merged_checkpoint(args.alpha, block_alphas))
    method = "" if pair.merge is None else f"{merge.name} {merge.params()}, "
    print(f"wrote {args.out}: {method}alpha={args.alpha}"
          + (f", block alphas {block_alphas}" if block_alphas else ""))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from wiseft_core.devices import resolve_device
    from wiseft_core.engine.interpolation import ensemble_outputs
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.engine.predict import predict_logits, to_batch, top_k
    from wiseft_core.files.images import open_images_for_cli

    pair = load_pair(args.zeroshot, args.finetuned, resolve_device(args.device), args.trust_pickle, args.classnames,
                     merge_spec_of(args), activation=args.activation)
    block_alphas = _block_alphas(args.block_alpha)
    images = open_images_for_cli(args.images)
    batch = to_batch(images, pair.preprocessing, pair.device)
    if args.ensemble == "outputs":
        logits = ensemble_outputs(predict_logits(pair.endpoint_model(0), batch),
                                  predict_logits(pair.endpoint_model(1), batch), args.alpha)
    else:
        live = pair.new_interpolator()
        live.set_alpha(args.alpha, block_alphas)
        logits = predict_logits(live.model, batch)
    probs = torch.softmax(logits, dim=-1).cpu()
    results = [{"image": path, "top_k": [{"class": c, "prob": p} for c, p in top_k(row, pair.classnames, args.top_k)]}
               for path, row in zip(args.images, probs)]
    if args.json:
        method = {} if pair.merge is None else {"method": pair.merge.name, "params": pair.merge.params()}
        print(json.dumps({"alpha": args.alpha, "ensemble": args.ensemble, **method, "predictions": results}, indent=2))
    else:
        for result in results:
            print(f"{result['image']}  (alpha={args.alpha}, {args.ensemble})")
            for entry in result["top_k"]:
                print(f"  {entry['prob'] * 100:6.2f}%  {entry['class']}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from wiseft_core.inspection.weight_diff import weight_diff

    zeroshot, finetuned = _load_sides(args)
    diffs = weight_diff(zeroshot.model.state_dict(), finetuned.model.state_dict())
    if args.json:
        print(json.dumps({"blocks": [d.to_dict() for d in diffs]}, indent=2))
        return 0
    print(f"{'block':<14}{'||ft-zs||/||zs||':>18}{'cosine':>10}{'params':>12}")
    for d in diffs:
        print(f"{d.block:<14}{d.rel_change:>18.6f}{d.cosine:>10.6f}{d.numel:>12,}")
    return 0


def _cmd_soup(args: argparse.Namespace) -> int:
    from wiseft_core.evaluate.soup import SoupConfig, run_soup

    soup = run_soup(SoupConfig(
        ingredients=args.checkpoints, out=args.out, method=args.method, eval=args.eval, tests=args.test,
        classnames=args.classnames, batch_size=args.batch_size, workers=args.workers, device=args.device,
        progress=not args.quiet, state=args.state))
    used = sum(1 for w in soup.weights if w > 0)
    held = f", held-out top-1 {soup.heldout_top1:.2f}% on {args.eval}" if soup.heldout_top1 is not None else ""
    print(f"wrote {soup.path}: {args.method} soup of {used} of {len(soup.weights)} checkpoints{held}")
    for spec, top1 in soup.test_top1.items():
        print(f"  {top1:6.2f}%  {spec}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from wiseft_core.engine.pair import convert_pair

    for path in convert_pair(args.zeroshot, args.finetuned, args.out_dir, args.classnames, args.activation):
        print(f"wrote {path}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are errors a user can fix: one line and status 2, like every other error."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _add_soup_parser(sub) -> None:
    p = sub.add_parser("soup", help="average N fine-tunes of one model: the uniform or greedy soup (Wortsman et al.)")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="fine-tuned checkpoints of one zero-shot model")
    p.add_argument("--method", choices=("uniform", "greedy"), default="uniform",
                   help="uniform: the mean of all; greedy: add ingredients by held-out accuracy while it rises")
    p.add_argument("--out", required=True, help="the soup's safetensors file (its recipe names every ingredient)")
    p.add_argument("--eval", default=None, metavar="SPEC",
                   help="held-out dataset that ranks and chooses the ingredients (greedy); never a --test set")
    p.add_argument("--test", action="append", default=[], metavar="SPEC", help="report the soup here (repeatable)")
    p.add_argument("--classnames", default=None, metavar="imagenet|FILE",
                   help="class names of ingredient files that store none (wise-ft or model-soups files)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--state", default=None,
                   help="greedy progress file (default OUT.soup-state.json): a killed run continues from it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_soup)


def _add_zeroshot_parser(sub) -> None:
    p = sub.add_parser("zeroshot", help="build a zero-shot classifier checkpoint from an open_clip model")
    p.add_argument("--model", required=True, help="open_clip model name, e.g. ViT-B-32")
    p.add_argument("--pretrained", required=True, help="open_clip tag (e.g. openai), a weights file, or none")
    p.add_argument("--seed", type=int, default=0, help="seed for --pretrained none")
    p.add_argument("--classnames", default="imagenet", help="'imagenet' or a file with one class per line")
    p.add_argument("--templates", default="openai",
                   help="prompt set: 'openai' (CLIP's 80, the paper's), 'openclip-simple' (open_clip's 7; 'simple' "
                        "is an alias), 'reference-simple' (the reference code's 1) or a file of {}-templates")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_zeroshot)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wiseft", description="WiSE-FT: robust fine-tuning of zero-shot models")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_zeroshot_parser(sub)

    p = sub.add_parser("interpolate", help="save theta(alpha) = (1-alpha) theta_zs + alpha theta_ft")
    _add_pair_args(p, merges=True)
    p.add_argument("--alpha", type=alpha_value, required=True)
    p.add_argument("--block-alpha", action="append", default=[], metavar="PATTERN=ALPHA",
                   help="per-block alpha, e.g. head=1.0 or 'block1*=0.3' (repeatable; last match wins)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("predict", help="top-k predictions of the interpolated classifier on images")
    _add_pair_args(p, merges=True)
    p.add_argument("--alpha", type=alpha_value, default=0.5)
    p.add_argument("--block-alpha", action="append", default=[], metavar="PATTERN=ALPHA")
    p.add_argument("--ensemble", choices=("weights", "outputs"), default="weights")
    p.add_argument("--top-k", type=positive_int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("inspect", help="per-block ||theta_ft - theta_zs|| / ||theta_zs|| and cosine similarity")
    _add_pair_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("convert", help="wise-ft, model soups, Hugging Face CLIP or state-dict checkpoints -> "
                                       "wiseft safetensors")
    p.add_argument("zeroshot", help="zero-shot side, e.g. wise-ft's zeroshot.pt, soups' zero-shot-vit-l14.pt, "
                                    "a Hugging Face CLIPModel folder")
    p.add_argument("finetuned", help="fine-tuned side, e.g. finetuned/checkpoint_10.pt, soups' model_1.pt")
    p.add_argument("--classnames", default=None, metavar="imagenet|FILE",
                   help="class names, in the head's order (default: ImageNet's for a 1000-class head)")
    p.add_argument("--out-dir", required=True, help="writes zeroshot.safetensors and finetuned.safetensors here")
    _add_activation_arg(p)
    p.set_defaults(func=_cmd_convert)

    _add_soup_parser(sub)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already reported in one line
        return int(done.code or 0)
    try:
        _check_common_args(args)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe surfaces here, inside the handler, not at interpreter exit
        return code
    except BrokenPipeError:
        # `wiseft inspect ... | head -1`: the reader left; that is not an error. Point stdout at /dev/null so
        # the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except WiseftError as err:
        if args.debug:
            raise
        print(f"wiseft: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a path the user gave cannot be read or written (full disk, permissions, a file)
        if args.debug:
            raise
        print(f"wiseft: error: {_os_error_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wiseft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
