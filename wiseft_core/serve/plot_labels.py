"""The figures' words in a viewer's language: a ``PlotLabels`` built from the app's strings (``assets/i18n``).

Each fixed text is the key ``plot.<field>``. A data value's shown name is the key ``plot.name.<value>``
(sources, fine-tunings, the landscape's paths, the paper's model notes) or one the pages already
translate (``flips.group.<value>``, ``flips.ensemble.<value>``), so a translator adds a name in JSON
only. The demo world's distribution and class names come from the caller (the talk's texts hold them).
"""

from __future__ import annotations

from collections.abc import Mapping

from wiseft_core.plots.labels import TEXT_FIELDS, PlotLabels
from wiseft_core.serve.i18n import load_strings, translate

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


def plot_labels(lang: str, distributions: Mapping[str, str] | None = None,
                classes: Mapping[str, str] | None = None) -> PlotLabels:
    """Every word the figures draw, in ``lang``; ``distributions`` and ``classes`` name the demo world's."""
    names = {**(classes or {}), **value_names(lang)}
    for name, shown in (distributions or {}).items():
        names[name] = shown
        if shown != name:  # a translated name stands for the spec too; an untranslated one leaves ``demo:`` shown
            names[DEMO_SPEC + name] = shown
    return PlotLabels(**{field: translate(lang, f"plot.{field}") for field in TEXT_FIELDS}, names=names)
