"""What the browser's live slider is sent: per image, real probabilities at the grid alphas and at the session's alpha.

Only a few classes per image travel (those that can appear in a top-k at some grid alpha or at the
session's alpha, the true class, the chart's classes), so a 1000-class model costs kilobytes, not
megabytes, per update; every number sent is the softmax of a real forward, rounded to 1e-7.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import torch
from PIL import Image

from wiseft_core.engine.interpolation import ensemble_outputs
from wiseft_core.serve.alpha_grid import ALPHA_GRID, PartialGrid, grid_index
from wiseft_core.serve.url_state import checked_alpha

DIGITS = 7
TOP_K = 5  # classes per image a viewer sees ranked


def thumbnail_data_url(image: Image.Image, size: int = 96) -> str:
    """A small PNG of the image, inline, so the element needs no second request per image."""
    thumb = image.copy()
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def grid_probs(grid: PartialGrid, mode: str) -> list[torch.Tensor | None]:
    """Probabilities at each grid alpha (None where not computed yet), in weight or output space."""
    logits, filled = grid.snapshot()
    if mode == "outputs":
        i0, i1 = grid_index(0.0, grid.alphas), grid_index(1.0, grid.alphas)
        if not (filled[i0] and filled[i1]):
            return [None] * len(grid.alphas)
        return [ensemble_outputs(logits[i0], logits[i1], a).softmax(-1) for a in grid.alphas]
    return [logits[i].softmax(-1) if filled[i] else None for i in range(len(grid.alphas))]


def _round(values: torch.Tensor) -> list[float]:
    return [round(float(v), DIGITS) for v in values]


def image_entry(name: str, label: int | None, label_name: str | None, thumb: str, rows: Sequence[torch.Tensor | None],
                server: torch.Tensor | None, top_k: int) -> dict:
    """One image: the classes that matter and their probabilities per grid row and at the session's alpha."""
    chosen: dict[int, None] = {}
    known = [r for r in rows if r is not None] + ([server] if server is not None else [])
    for probs in known:
        for c in probs.topk(min(top_k, probs.numel())).indices.tolist():
            chosen.setdefault(c, None)
    chart: dict[int, None] = {}
    for probs in [rows[0], rows[-1], server]:
        if probs is not None:
            chart.setdefault(int(probs.argmax()), None)
    if label is not None:
        chosen.setdefault(label, None)
        chart.setdefault(label, None)
    classes = list(chosen)
    index = torch.tensor(classes, dtype=torch.long)
    return {
        "name": name, "label": label, "label_name": label_name, "thumb": thumb, "classes": classes,
        "chart_classes": list(chart)[:4],
        "rows": [None if r is None else _round(r[index]) for r in rows],
        "server": None if server is None else _round(server[index]),
    }


def slider_data(images: list[dict], classnames: Sequence[str], alpha: float, low: float, high: float,
                mode: str, grid_usable: bool, pending: bool, top_k: int = TOP_K, step: float = 0.05) -> dict:
    """The whole payload: slider range and alpha, grid alphas, class names used, and each image's entry."""
    used = sorted({c for image in images for c in image["classes"]})
    return {
        "alpha": round(alpha, 4), "min": low, "max": high, "step": step, "mode": mode, "grid": list(ALPHA_GRID),
        "grid_usable": grid_usable, "pending": pending, "top_k": top_k, "server_alpha": round(alpha, 4),
        "classnames": {c: classnames[c] for c in used}, "images": images,
    }


def released_alpha(state: object, low: float, high: float) -> float | None:
    """The alpha a browser sent on release, rounded to the slider's 0.01, or None if it is not one.

    The message comes from a viewer's browser and can be forged: anything but a finite number in
    [low, high] (a string, NaN, infinity, a value off the slider's range) is refused here.
    """
    value = state.get("alpha") if hasattr(state, "get") else getattr(state, "alpha", None)
    alpha = checked_alpha(value, low, high) if isinstance(value, (int, float)) else None
    return None if alpha is None else round(alpha, 2)
