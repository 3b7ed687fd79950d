"""What a viewer may put in the app's URL (and send from the browser), checked in one place.

A link is typed by anyone: ``?alpha=nan``, ``?sample=²`` or a 10 000-item list must not reach the
model, a traceback or Markdown. Each parameter has one parser here that returns a usable value or
the default, never raises: alphas are finite and within the slider's range, indices are ASCII
digits of bounded length (``"²".isdigit()`` is true, ``int("²")`` raises), names are ones the app
knows, lists are capped before they are read. Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

ALPHA_LIMITS = (-0.5, 1.5)  # the widest slider (extrapolation on)
MAX_FIELD_CHARS = 2000  # a parameter longer than this is ignored whole, before it is split
MAX_ITEMS = 16  # items read from a comma-separated parameter
MAX_INDEX_DIGITS = 9
_INDEX = re.compile(rf"[0-9]{{1,{MAX_INDEX_DIGITS}}}")
_SPEC = re.compile(r"[A-Za-z0-9_.:=/\- ]{1,200}")


def checked_alpha(value: object, low: float = ALPHA_LIMITS[0], high: float = ALPHA_LIMITS[1]) -> float | None:
    """``value`` as an alpha if it is a real number (or its plain decimal text), finite and in [low, high]."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 32 or not text.isascii():
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    alpha = float(value)
    return alpha if math.isfinite(alpha) and low <= alpha <= high else None


def alpha_param(text: str | None, default: float) -> float:
    """The ``alpha`` parameter, or ``default`` when it is missing, not a number, infinite/NaN or out of range."""
    alpha = checked_alpha(text) if text is not None else None
    return default if alpha is None else alpha


def index_param(text: str | None) -> int | None:
    """A non-negative index written in ASCII digits (at most nine), else None."""
    return int(text) if text is not None and _INDEX.fullmatch(text) else None


def name_param(text: str | None, known: Collection[str], default: str) -> str:
    """One of the ``known`` names, else ``default``."""
    return text if text in known else default


def list_param(text: str | None, limit: int = MAX_ITEMS) -> list[str]:
    """Non-empty comma-separated items, at most ``limit``; an oversized parameter counts as empty."""
    if not text or len(text) > MAX_FIELD_CHARS:
        return []
    return [item.strip() for item in text.split(",") if item.strip()][:limit]


def known_names(text: str | None, known: Collection[str], limit: int = MAX_ITEMS) -> list[str]:
    """The items of a comma-separated parameter that are ``known`` names (unknown ones are dropped)."""
    return [item for item in list_param(text, limit) if item in known]


def image_ref(text: str) -> tuple[str, int] | None:
    """``<dataset spec>#<index>`` (a Flips link to one image) as (spec, index), or None if malformed."""
    spec, sep, index = text.rpartition("#")
    number = index_param(index)
    if not sep or number is None or not _SPEC.fullmatch(spec):
        return None
    return spec, number


def image_refs(text: str | None, limit: int) -> tuple[list[tuple[str, int]], int]:
    """The well-formed image links of ``?image=`` (at most ``limit``) and how many items were malformed."""
    refs, bad = [], 0
    for item in list_param(text, limit):
        ref = image_ref(item)
        if ref is None:
            bad += 1
        else:
            refs.append(ref)
    return refs, bad

