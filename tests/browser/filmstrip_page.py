"""A minimal Streamlit page around the Playground's saliency filmstrip fragment, for the browser test.

``streamlit run tests/browser/filmstrip_page.py -- ZEROSHOT FINETUNED``: two generated 32-px shapes,
the filmstrip toggle and its overlays, exactly as ``app_pages.filmstrip.filmstrip`` draws them.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from app_pages.filmstrip import filmstrip  # noqa: E402
from wiseft_core.engine.pair import load_pair  # noqa: E402


@dataclass
class Context:
    pair: object
    key: str
    device: str = "cpu"


@dataclass
class Sample:
    name: str
    image: Image.Image
    digest: str


@st.cache_resource
def pair(zeroshot: str, finetuned: str):
    return load_pair(zeroshot, finetuned)


def shape(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (32, 32), tuple(int(v) for v in rng.integers(0, 255, 3)))
    x, y = rng.integers(4, 14, 2)
    ImageDraw.Draw(image).ellipse([x, y, x + 16, y + 16], fill=(240, 240, 240))
    return image


st.title("Filmstrip")
context = Context(pair(sys.argv[1], sys.argv[2]), "browser-test")
filmstrip(context, [Sample(f"shape {i}", shape(i), f"shape{i}") for i in range(2)], 0.4)
