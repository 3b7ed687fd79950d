"""The `wiseft` command line: zeroshot, interpolate, predict, inspect (+ finetune, sweep, demo).

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

from wiseft_core.blocks import ALPHA_LIMIT
from wiseft_core.errors import WiseftError

# Modules that add their own subcommands through `register(subparsers)`.
COMMAND_MODULES = ("wiseft_core.train_cli", "wiseft_core.demo.cli", "wiseft_core.talk.cli",
                   "wiseft_core.inspection_cli")


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
    from wiseft_core.blocks import parse_block_alpha

    parsed = [parse_block_alpha(spec) for spec in specs]
    for spec, (_, value) in zip(specs, parsed):
        try:
            alpha_value(str(value))
        except argparse.ArgumentTypeError as err:
            raise WiseftError(f"--block-alpha {spec!r}: {err}") from None
    return parsed


def _add_pair_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint (theta0)")
    parser.add_argument("--finetuned", required=True, help="fine-tuned classifier checkpoint (theta1)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="unpickle files with their own classes (runs code from the file!); not needed for "
                             "wise-ft files, state dicts or safetensors")
    parser.add_argument("--classnames", default=None, metavar="imagenet|FILE",
                        help="class names of a zero-shot side that stores none (a wise-ft file); "
                             "default for those: ImageNet's when the head has 1000 classes")


def _load_sides(args: argparse.Namespace):
    """Both sides of a pair as LoadedClassifiers (the fine-tuned side may borrow the zero-shot metadata)."""
    from wiseft_core.checkpoints import load_classifier

    zeroshot = load_classifier(args.zeroshot, trust_pickle=args.trust_pickle, classnames=args.classnames)
    finetuned = load_classifier(args.finetuned, trust_pickle=args.trust_pickle, like=zeroshot.meta)
    return zeroshot, finetuned


def _cmd_zeroshot(args: argparse.Namespace) -> int:
    from wiseft_core.devices import resolve_device
    from wiseft_core.zeroshot import build_zeroshot_checkpoint, load_classnames, load_templates

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
    from wiseft_core.checkpoints import save_classifier
    from wiseft_core.pair import make_pair

    block_alphas = _block_alphas(args.block_alpha)
    zeroshot, finetuned = _load_sides(args)
    pair = make_pair(zeroshot, finetuned, "cpu")
    save_classifier(args.out, *pair.merged_checkpoint(args.alpha, block_alphas))
    print(f"wrote {args.out}: alpha={args.alpha}" + (f", block alphas {block_alphas}" if block_alphas else ""))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import torch

    from wiseft_core.devices import resolve_device
    from wiseft_core.images import open_images_for_cli
    from wiseft_core.interpolation import ensemble_outputs
    from wiseft_core.pair import load_pair
    from wiseft_core.predict import predict_logits, to_batch, top_k

    pair = load_pair(args.zeroshot, args.finetuned, resolve_device(args.device), args.trust_pickle, args.classnames)
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
        print(json.dumps({"alpha": args.alpha, "ensemble": args.ensemble, "predictions": results}, indent=2))
    else:
        for result in results:
            print(f"{result['image']}  (alpha={args.alpha}, {args.ensemble})")
            for entry in result["top_k"]:
                print(f"  {entry['prob'] * 100:6.2f}%  {entry['class']}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from wiseft_core.weight_diff import weight_diff

    zeroshot, finetuned = _load_sides(args)
    diffs = weight_diff(zeroshot.model.state_dict(), finetuned.model.state_dict())
    if args.json:
        print(json.dumps({"blocks": [d.to_dict() for d in diffs]}, indent=2))
        return 0
    print(f"{'block':<14}{'||ft-zs||/||zs||':>18}{'cosine':>10}{'params':>12}")
    for d in diffs:
        print(f"{d.block:<14}{d.rel_change:>18.6f}{d.cosine:>10.6f}{d.numel:>12,}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from wiseft_core.wiseft_import import convert_pair

    for path in convert_pair(args.zeroshot, args.finetuned, args.out_dir, args.classnames):
        print(f"wrote {path}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are errors a user can fix: one line and status 2, like every other error."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wiseft", description="WiSE-FT: robust fine-tuning of zero-shot models")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

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

    p = sub.add_parser("interpolate", help="save theta(alpha) = (1-alpha) theta_zs + alpha theta_ft")
    _add_pair_args(p)
    p.add_argument("--alpha", type=alpha_value, required=True)
    p.add_argument("--block-alpha", action="append", default=[], metavar="PATTERN=ALPHA",
                   help="per-block alpha, e.g. head=1.0 or 'block1*=0.3' (repeatable; last match wins)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_interpolate)

    p = sub.add_parser("predict", help="top-k predictions of the interpolated classifier on images")
    _add_pair_args(p)
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

    p = sub.add_parser("convert", help="wise-ft (or plain state dict) checkpoints -> wiseft safetensors")
    p.add_argument("zeroshot", help="zero-shot side, e.g. wise-ft's zeroshot.pt")
    p.add_argument("finetuned", help="fine-tuned side, e.g. finetuned/checkpoint_10.pt or wise_ft_alpha=0.500.pt")
    p.add_argument("--classnames", default=None, metavar="imagenet|FILE",
                   help="class names, in the head's order (default: ImageNet's for a 1000-class head)")
    p.add_argument("--out-dir", required=True, help="writes zeroshot.safetensors and finetuned.safetensors here")
    p.set_defaults(func=_cmd_convert)

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
