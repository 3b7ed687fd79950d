"""The words the figures draw themselves, as one argument: English by default, the app passes its viewer's.

The figure functions stay free of any language machinery: a caller that speaks another language builds
one ``PlotLabels`` (the app does so from ``assets/i18n``, keys ``plot.*``) and hands it to every figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlotLabels:
    """Fixed texts of the figures, and ``names`` for data values (sources, fine-tunings, ensembles,
    distributions, flip groups, landscape paths). Texts may name ``{fields}`` that the figure fills in
    (with a number, or a Plotly ``%{…}`` reference in a hover text)."""

    reference_accuracy: str = "Reference accuracy (%)"
    shift_accuracy: str = "Shift accuracy (%)"
    current_alpha: str = "current α"
    zero_shot: str = "zero-shot"
    fine_tuned: str = "fine-tuned"
    chord: str = "zero-shot→fine-tuned"
    seeds_mean: str = "mean of {runs} seeds, whiskers: range"
    seeds_hover: str = "mean of {runs}; range {low}–{high}"
    logit_scale: str = "logit scale"
    relative_change_title: str = "relative change ‖θ_ft − θ_zs‖ / ‖θ_zs‖"
    relative_change: str = "relative change"
    cosine_title: str = "cosine similarity"
    cosine: str = "cosine"
    alpha_axis: str = "α (0 = zero-shot, 1 = fine-tuned)"
    pointing_axis: str = "saliency peak on the object (%)"
    pointing_hover: str = "{share}% of peaks on the object"
    images: str = "images"
    images_hover: str = "{n} images"
    top1: str = "top-1 (%)"
    loss: str = "mean cross-entropy"
    loss_hover: str = "loss {loss}"
    barrier: str = "barrier {barrier}"
    soups_paper_title: str = "Model soups paper: CLIP ViT-B/32 on ImageNet"
    soups_demo_title: str = "Demo world (test draw)"
    avg_shift_accuracy: str = "Average shift accuracy (%)"
    soups_hover: str = "reference {x}<br>avg shifts {y}"
    wiseft_to: str = "WiSE-FT: zero-shot → {model}"
    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, value: object) -> str:
        """The word shown for a data value; a value ``names`` does not know (a file's name) as it is.

        A numbered value (``fine-tune 3``) takes its stem's name (``names["fine-tune"]``) and keeps its number.
        """
        text = str(value)
        stem, _, number = text.rpartition(" ")
        if text not in self.names and number.isdigit() and stem in self.names:
            return f"{self.names[stem]} {number}"
        return self.names.get(text, text)


ENGLISH = PlotLabels()
TEXT_FIELDS = tuple(name for name in PlotLabels.__dataclass_fields__ if name != "names")


def fill(template: str, **fields: object) -> str:
    """``template`` with each ``{name}`` replaced; other braces (Plotly's ``%{x}``) stay as they are."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", str(value))
    return template
