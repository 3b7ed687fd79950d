"""``wiseft explain``, ``wiseft flips`` and ``wiseft landscape``: inspecting what alpha does.

Thin commands over :mod:`wiseft_core.inspection.saliency`, :mod:`wiseft_core.inspection.flips` and
:mod:`wiseft_core.inspection.landscape`.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from wiseft_core.cli.dispatch import alpha_value, output_folder
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


def _add_objectnet_crop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--objectnet-crop", action=argparse.BooleanOptionalAction, default=True,
                        help="crop ObjectNet's 2-px border before preprocessing (default; as `wiseft sweep`: "
                             "--no-objectnet-crop reproduces the reference code's numbers)")


def _datasets(specs: list[str], objectnet_crop: bool) -> list:
    """Every ``--eval`` spec loaded (all checked before any work), ObjectNet's border crop as asked."""
    import dataclasses

    from wiseft_core.data.datasets import load_dataset

    loaded = [load_dataset(spec) for spec in specs]
    return loaded if objectnet_crop else [dataclasses.replace(d, crop_border=0) for d in loaded]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"


def _cmd_explain(args: argparse.Namespace) -> int:
    from wiseft_core.devices import resolve_device
    from wiseft_core.engine.alphas import parse_alphas
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.files.images import open_images_for_cli
    from wiseft_core.inspection.saliency import METHODS, explain, overlay

    alphas = parse_alphas(args.alphas)
    out = output_folder(args.out)
    if args.method not in METHODS:
        raise WiseftError(f"--method {args.method!r}: expected one of {', '.join(METHODS)}")
    pair = load_pair(args.zeroshot, args.finetuned, resolve_device(args.device), args.trust_pickle)
    target = class_index(args.class_, pair.classnames)
    images = open_images_for_cli(args.images)
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


def _progress(label: str):
    """A tqdm bar for ``along_alpha``'s ``progress(done, total)`` callback (stderr; no bar when quiet)."""
    from tqdm.auto import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=label, unit="pass", leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _cmd_flips(args: argparse.Namespace) -> int:
    from wiseft_core.devices import resolve_device
    from wiseft_core.engine.alphas import parse_alphas, parse_ensembles
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.inspection.along_alpha import along_alpha
    from wiseft_core.inspection.flips import GROUPS, counts_at, save_flips

    alphas = sorted(set(parse_alphas(args.alphas)) | {0.0, 1.0, round(args.alpha, 6)})
    ensembles = parse_ensembles(args.ensemble)
    datasets = _datasets(args.eval, args.objectnet_crop)
    pair = load_pair(args.zeroshot, args.finetuned, resolve_device(args.device), args.trust_pickle)
    results = []
    for loaded in datasets:
        results += along_alpha(pair, loaded, alphas, ensembles, args.batch_size, args.workers,
                               progress=None if args.quiet else _progress(loaded.spec))
    info = {"zeroshot": str(args.zeroshot), "finetuned": str(args.finetuned),
            "zeroshot_sha256": pair.zeroshot.sha256, "finetuned_sha256": pair.finetuned.sha256,
            "classnames": pair.classnames, "objectnet_crop": args.objectnet_crop}
    save_flips(args.out, results, info)
    width = max(len(r.spec) + len(r.ensemble) + 3 for r in results)
    print(f"{'alpha = ' + format(args.alpha, 'g'):<{width}}  " + "  ".join(f"{g:>{max(len(g), 6)}}" for g in GROUPS))
    for r in results:
        counts = counts_at(r, args.alpha)
        print(f"{r.spec + ' (' + r.ensemble + ')':<{width}}  "
              + "  ".join(f"{counts[g]:>{max(len(g), 6)}}" for g in GROUPS))
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out} ({len(alphas)} alphas, {sum(r.n for r in results[:: len(ensembles)])} images, "
          f"{size / 1024:.0f} KB)")
    return 0


def _parse_path(text: str) -> tuple[str, str, str]:
    name, sep, files = text.partition("=")
    first, comma, second = files.partition(",")
    if not (sep and comma and name.strip() and first.strip() and second.strip()):
        raise WiseftError(f"--path {text!r}: expected NAME=THETA0,THETA1 (e.g. ours=zs.safetensors,ft.safetensors)")
    return name.strip(), first.strip(), second.strip()


def _cmd_landscape(args: argparse.Namespace) -> int:
    from wiseft_core.devices import resolve_device
    from wiseft_core.engine.alphas import parse_alphas
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.inspection.landscape import barrier_table, measure_path, write_csv

    paths = [_parse_path(p) for p in args.path]
    alphas = parse_alphas(args.alphas)
    datasets = _datasets(args.eval, args.objectnet_crop)
    measured = []
    for name, first, second in paths:
        pair = load_pair(first, second, resolve_device(args.device), args.trust_pickle)
        measured += measure_path(name, pair, datasets, alphas, args.batch_size,
                                 progress=None if args.quiet else _progress(name))
    write_csv(args.out, measured)
    for row in barrier_table(measured):
        print(f"{row['path']:<16} {row['dataset']:<28} loss(0)={row['loss at 0']:.4f}  loss(1)={row['loss at 1']:.4f}"
              f"  loss barrier={row['loss barrier']:.4f} (at alpha {row['at alpha']:g})"
              f"  error barrier={row['error barrier (pp)']:.2f} pp")
    print(f"wrote {args.out}")
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

    p = subparsers.add_parser("flips", help="per-image predictions at every alpha: which images flip (.npz)")
    _pair_args(p)
    p.add_argument("--eval", action="append", required=True, metavar="SPEC",
                   help="dataset spec (repeatable): demo:sketch, folder=DIR, csv=FILE, imagenet-r=DIR, ...")
    p.add_argument("--alphas", default="0:1:0.05", help="START:STOP:STEP or a comma list (0 and 1 always added)")
    p.add_argument("--ensemble", action="append", default=None, help="weights (default) and/or outputs")
    p.add_argument("--alpha", type=alpha_value, default=0.5, help="alpha of the printed group counts (default 0.5)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_objectnet_crop(p)
    p.add_argument("--out", required=True, help="output .npz")
    p.set_defaults(func=_cmd_flips)

    p = subparsers.add_parser("landscape", help="loss along the line between two checkpoints, and its barriers: the "
                              "loss barrier above the linear path (loss minus the chord of the endpoints' losses) "
                              "and Frankle et al.'s error barrier (error minus the mean endpoint error)")
    p.add_argument("--path", action="append", required=True, metavar="NAME=THETA0,THETA1",
                   help="a named pair of checkpoints (repeatable)")
    p.add_argument("--eval", action="append", required=True, metavar="SPEC")
    p.add_argument("--alphas", default="-0.5:1.5:0.1",
                   help="START:STOP:STEP or a comma list; write --alphas=-0.5:1.5:0.1 for a negative start")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--trust-pickle", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_objectnet_crop(p)
    p.add_argument("--out", required=True, help="output CSV (path, dataset, alpha, loss, top1, n)")
    p.set_defaults(func=_cmd_landscape)
