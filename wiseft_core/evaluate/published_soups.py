"""The published model-soups results (72 CLIP ViT-B/32 ImageNet fine-tunes, their uniform and greedy soups).

A reference cloud next to the WiSE-FT curves: each fine-tune of one start is a point, and the soups
sit above and to the right of the cloud. Read from ``assets/model_soups/`` (see its README).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.results import ASSETS

PUBLISHED_SOUPS = ASSETS / "model_soups"
HELD_OUT, REFERENCE = "ImageNet2p", "ImageNet"
SHIFTS = ("ImageNetV2", "ImageNetSketch", "ImageNetR", "ObjectNet", "ImageNetA")
FILES = {"fine-tune": "individual_model_results.jsonl", "uniform soup": "uniform_soup_results.jsonl",
         "greedy soup": "greedy_soup_results.jsonl"}
LP_INIT = "model_0"  # the linear-probe initialisation every other model started from


@dataclass(frozen=True)
class PublishedModel:
    name: str
    kind: str  # "fine-tune", "LP init", "uniform soup" or "greedy soup"
    held_out: float  # percent, ImageNet2p
    reference: float  # percent, ImageNet
    shifts: dict[str, float]  # percent

    @property
    def avg_shifts(self) -> float:
        return sum(self.shifts.values()) / len(self.shifts)


def _model(record: dict, kind: str, where: str) -> PublishedModel:
    try:
        name = str(record["model_name"])
        percent = {k: 100.0 * float(record[k]) for k in (HELD_OUT, REFERENCE, *SHIFTS)}
    except (KeyError, TypeError, ValueError) as err:
        raise WiseftError(f"{where}: expected model_name, {HELD_OUT}, {REFERENCE} and {', '.join(SHIFTS)} "
                          f"({err!r})") from None
    kind = "LP init" if name == LP_INIT else kind
    return PublishedModel(name, kind, percent[HELD_OUT], percent[REFERENCE], {s: percent[s] for s in SHIFTS})


def load_published_soups(folder: str | os.PathLike = PUBLISHED_SOUPS) -> list[PublishedModel]:
    """Every published model, fine-tunes first (in file order), then the uniform and the greedy soup."""
    folder = Path(folder)
    models = []
    for kind, name in FILES.items():
        path = folder / name
        if not path.is_file():
            raise WiseftError(f"{path}: missing (the model-soups reference data, see assets/model_soups/README.md)")
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise WiseftError(f"{name}, line {line_no}: not JSON ({err.msg})") from None
                models.append(_model(record, kind, f"{name}, line {line_no}"))
    return models


def best_single(models: list[PublishedModel]) -> PublishedModel:
    """The best individual model by held-out accuracy, the paper's baseline."""
    return max((m for m in models if m.kind in ("fine-tune", "LP init")), key=lambda m: m.held_out)
