"""``wiseft talk export``: the talk as one HTML file, 1920x1080 PNGs and a PDF, without the app."""

from __future__ import annotations

import argparse

from wiseft_core.cli.dispatch import alpha_value, output_folder
from wiseft_core.errors import WiseftError

FORMATS = ("html", "png", "pdf")


def _cmd_export(args: argparse.Namespace) -> int:
    from wiseft_core.demo import assets
    from wiseft_core.devices import resolve_device
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.talk.data import build_talk_data, default_sweep
    from wiseft_core.talk.deck import live_of
    from wiseft_core.talk.export import export_talk
    from wiseft_core.talk.slides import TalkState, build_talk
    from wiseft_core.talk.texts import load_texts

    if bool(args.zeroshot) != bool(args.finetuned):
        raise WiseftError("give both --zeroshot and --finetuned (or neither, for the demo pair)")
    output_folder(args.out)
    zeroshot = args.zeroshot or str(assets.DEMO_ZEROSHOT)
    finetuned = args.finetuned or str(assets.DEMO_FINETUNED)
    texts = load_texts(args.lang)
    pair = load_pair(zeroshot, finetuned, resolve_device(args.device), args.trust_pickle)
    sweep, source = (args.sweep, "this_pair") if args.sweep else default_sweep(zeroshot)
    data = build_talk_data(pair, sweep, source)
    state = TalkState(alpha=args.alpha, presenter=args.presenter, date=args.date)
    slides = build_talk(data, texts, state)
    written = export_talk(slides, texts, args.out, args.format or FORMATS, live_of(slides, data, texts, state))
    for kind, paths in written.items():
        where = paths[0].parent if kind == "png" else ", ".join(str(p) for p in paths)
        print(f"wrote {kind}: {where}" + (f" ({len(paths)} slides)" if kind == "png" else ""))
    return 0


def register(sub) -> None:
    """Add ``talk export`` to the ``wiseft`` command."""
    talk = sub.add_parser("talk", help="the seminar talk on WiSE-FT (export it as HTML, PNGs and a PDF)")
    talk_sub = talk.add_subparsers(dest="talk_command", required=True)
    p = talk_sub.add_parser("export", help="write talk_<lang>.html, png_<lang>/stepNN.png (1920x1080), talk_<lang>.pdf")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--lang", choices=("en", "ru"), default="en")
    p.add_argument("--alpha", type=alpha_value, default=0.5, help="the alpha the live step and the curves mark")
    p.add_argument("--zeroshot", help="zero-shot checkpoint (default: the demo pair)")
    p.add_argument("--finetuned", help="fine-tuned checkpoint (default: the demo pair)")
    p.add_argument("--sweep", help="this pair's `wiseft sweep` CSV (the demo pair brings its own)")
    p.add_argument("--presenter", default="")
    p.add_argument("--date", default="")
    p.add_argument("--format", action="append", choices=FORMATS,
                   help="what to write (repeatable; default: all three). PNG and PDF need a Chromium")
    p.add_argument("--device", default="cpu")
    p.add_argument("--trust-pickle", action="store_true")
    p.set_defaults(func=_cmd_export)
