"""``wiseft explain``, ``wiseft flips`` and ``wiseft landscape``: inspecting what alpha does.

Thin commands over :mod:`wiseft_core.saliency`, :mod:`wiseft_core.flips` and :mod:`wiseft_core.landscape`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from wiseft_core.errors import WiseftError

DEFAULT_ALPHAS = "0,0.25,0.5,0.75,1"


def _pair_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zeroshot", required=True, help="zero-shot classifier checkpoint (theta0)")
    parser.add_argument("--finetuned", required=True, help="fine-tuned classifier checkpoint (theta1)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow unpickling non-safetensors checkpoints (runs code from the file!)")
    parser.add_argument("--device", default="cpu")


def class_index(value: str | None, classnames: list[str]) -> int | None:
    """``--class``: a class name or an index into the checkpoint's classes; None = the prediction."""
    if value is None:
        return None
    if value in classnames:
        return classnames.index(value)
    try:
        index = int(value)
    except ValueError:
        raise WiseftError(f"--class {value!r}: not one of the checkpoint's {len(classnames)} classes "
                          f"(e.g. {', '.join(classnames[:3])}) nor an index") from None
    if not 0 <= index < len(classnames):
        raise WiseftError(f"--class {index}: expected an index in 0..{len(classnames) - 1}")
    return index


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"


def _cmd_explain(args: argparse.Namespace) -> int:
    from wiseft_core.images import open_image_with_notes
    from wiseft_core.pair import load_pair, resolve_device
    from wiseft_core.saliency import explain, overlay
    from wiseft_core.sweep import parse_alphas

    alphas = parse_alphas(args.alphas)
    pair = load_pair(args.zeroshot, args.finetuned, resolve_device(args.device), args.trust_pickle)
    target = class_index(args.class_, pair.classnames)
    images = []
    for path in args.images:
        image, notes = open_image_with_notes(path)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        images.append(image)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = explain(pair.new_interpolator(), images, pair.preprocessing, alphas, target=target,
                      layer=args.layer, method=args.method)
    report = {"zeroshot": str(args.zeroshot), "finetuned": str(args.finetuned), "alphas": alphas,
              "method": args.method, "images": []}
    stems: set[str] = set()
    for path, image, explanations in zip(args.images, images, results, strict=True):
        stem = _slug(Path(path).stem)
        while stem in stems:
            stem += "_"
        stems.add(stem)
        entry = {"image": str(path), "width": image.width, "height": image.height, "alphas": []}
        for e in explanations:
            png = out / f"{stem}_alpha{e.alpha:g}.png"
            overlay(image, e).save(png)
            entry["alphas"].append({**e.to_dict(pair.classnames), "overlay": png.name})
            peak = "none (empty map)" if e.peak is None else f"({e.peak[0]}, {e.peak[1]})"
            print(f"{path}  alpha={e.alpha:g}: {pair.classnames[e.predicted]} ({e.probability:.3f}), peak {peak}")
        report["images"].append(entry)
    (out / "explain.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(images) * len(alphas)} overlays and explain.json to {out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("explain", help="class-activation maps of theta(alpha): where the model looks")
    _pair_args(p)
    p.add_argument("--alphas", default=DEFAULT_ALPHAS, help=f"comma list or START:STOP:STEP (default {DEFAULT_ALPHAS})")
    p.add_argument("--class", dest="class_", default=None,
                   help="explain this class (name or index) instead of the prediction at each alpha")
    p.add_argument("--layer", default=None, help="layer to explain (layer1..layer4 for ResNets, blockN for ViTs)")
    p.add_argument("--method", default="elementwise",
                   help="elementwise (default: ReLU(gradient x activation) per location), gradcam or hirescam")
    p.add_argument("--out", required=True, help="folder for the overlay PNGs and explain.json")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=_cmd_explain)
