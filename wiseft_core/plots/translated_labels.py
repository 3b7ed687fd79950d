"""The figures' words in a viewer's language: a ``PlotLabels`` built from the app's strings (``assets/i18n``).

Each fixed text is the key ``plot.<field>``. A data value's shown name is the key ``plot.name.<value>``
(sources, fine-tunings, the landscape's paths, the paper's model notes) or one the pages already
translate (``flips.group.<value>``, ``flips.ensemble.<value>``), so a translator adds a name in JSON
only. The demo world's distribution and class names are the talk's (``assets/talk/<lang>.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from wiseft_core.errors import WiseftError
from wiseft_core.plots.labels import TEXT_FIELDS, PlotLabels
from wiseft_core.serve.i18n import load_strings, translate

TALK_TEXTS = Path(__file__).resolve().parents[2] / "assets" / "talk"

NAME_PREFIXES = ("plot.name.", "flips.group.", "flips.ensemble.")
DEMO_SPEC = "demo:"  # the demo world's datasets as specs (``demo:sketch``) name the same distributions


def value_names(lang: str) -> dict[str, str]:
    """Data value -> its name in ``lang``, from every key under ``NAME_PREFIXES``."""
    names = {}
    for key in load_strings("en"):
        prefix = next((p for p in NAME_PREFIXES if key.startswith(p)), None)
        if prefix is not None:
            names[key[len(prefix):]] = translate(lang, key)
    return names


@lru_cache(maxsize=4)
def demo_names(lang: str, folder: Path = TALK_TEXTS) -> tuple[dict[str, str], dict[str, str]]:
    """The demo world's (distribution, class) names in ``lang``: the talk's texts, read as data (importing
    the talk package would load PyTorch on every page's first run; ``talk.texts`` checks the file)."""
    path = folder / f"{lang}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise WiseftError(f"{path}: the demo's distribution and class names are unreadable ({err})") from None
    return dict(raw.get("demo_distributions", {})), dict(raw.get("classes", {}))


def plot_labels(lang: str, distributions: Mapping[str, str] | None = None,
                classes: Mapping[str, str] | None = None) -> PlotLabels:
    """Every word the figures draw, in ``lang``; ``distributions`` and ``classes`` name the demo world's
    (default: the talk's names in ``lang``)."""
    if distributions is None or classes is None:
        talk_distributions, talk_classes = demo_names(lang)
        distributions = talk_distributions if distributions is None else distributions
        classes = talk_classes if classes is None else classes
    names = {**classes, **value_names(lang)}
    for name, shown in distributions.items():
        names[name] = shown
        if shown != name:  # a translated name stands for the spec too; an untranslated one leaves ``demo:`` shown
            names[DEMO_SPEC + name] = shown
    return PlotLabels(**{field: translate(lang, f"plot.{field}") for field in TEXT_FIELDS}, names=names)
