"""What a slider move on the Soups page costs: the engine's live soup against a dict soup built per move.

On the demo world's shipped soup models (assets/demo/) and its 30 gallery images:
(a) dict soup per move: soup_state_dict of the picked models, a new classifier, load_state_dict, then
    preprocess the images and one forward (the page before the engine)
(b) live soup: LiveSoup.top1 = one set_weights on a pooled live model + one forward on images preprocessed once
Usage: python benchmarks/soups_page.py [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json

import torch
from PIL import Image
from timing import median_ms

from wiseft_core.demo.assets import DEMO_DIR, DEMO_SAMPLES
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.demo.soups import shipped_soup_files
from wiseft_core.engine.predict import predict_probs, to_batch
from wiseft_core.evaluate.soup_average import soup_state_dict
from wiseft_core.files.checkpoints import build_classifier
from wiseft_core.serve.soup_mix import open_live_soup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    soup = open_live_soup(shipped_soup_files(DEMO_DIR), live_models=1)
    meta = soup.endpoints.meta
    samples = [s for group in gallery_samples(DEMO_SAMPLES, meta.classnames).values() for s in group]
    images = [Image.open(s.path).convert("RGB") for s in samples]
    batch = to_batch(images, meta.preprocessing)
    names, states = soup.names[:3], [c.model.state_dict() for c in soup.endpoints.classifiers[:3]]
    moves = iter(range(10**9))

    def weights() -> list[float]:  # a new point each call, as a dragged slider gives
        k = next(moves) % 19 + 1
        return [k / 20, (20 - k) / 40, (20 - k) / 40]

    def dict_move() -> None:
        model = build_classifier(meta, "cpu").eval()
        model.load_state_dict(soup_state_dict(states, weights()))
        predict_probs(model, images, meta.preprocessing)

    results = {"images": len(images), "models": len(soup.names),
               "dict_soup_ms": median_ms(dict_move, args.repeats),
               "live_soup_ms": median_ms(lambda: soup.top1(names, weights(), batch), args.repeats)}
    results["ratio"] = results["dict_soup_ms"] / results["live_soup_ms"]
    print(json.dumps(results) if args.json else "\n".join(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}"
                                                            for k, v in results.items()))


if __name__ == "__main__":
    main()
