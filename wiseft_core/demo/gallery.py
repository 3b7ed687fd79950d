"""The Playground's sample gallery: the demo world's sample images, grouped by distribution, labels from names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wiseft_core.data.world import DISTRIBUTIONS


@dataclass(frozen=True)
class GallerySample:
    """A shipped sample image: its file, the distribution it comes from and its true class (if known)."""

    path: Path
    distribution: str
    label: str | None

    @property
    def key(self) -> str:
        return self.path.stem

    @property
    def display_name(self) -> str:
        """How the Playground names a picked sample: ``photo: large circle``."""
        return f"{self.distribution}: {self.label or self.key}"


def _words(text: str) -> str:
    return " ".join(text.replace("_", " ").replace("-", " ").lower().split())


def gallery_samples(samples_dir: str | Path, classnames: Sequence[str]) -> dict[str, list[GallerySample]]:
    """Samples grouped by distribution, from ``<dist>/<anything>.png`` or ``<dist>_<anything>.png`` files.

    The true label is the longest class name that appears in the file name (``photo_small_circle_0.png``
    -> "small circle"), so the gallery needs no index file and survives renaming conventions.
    """
    samples_dir = Path(samples_dir)
    if not samples_dir.is_dir():
        return {}
    by_length = sorted(classnames, key=len, reverse=True)
    groups: dict[str, list[GallerySample]] = {}
    for path in sorted(samples_dir.rglob("*.png")):
        relative = _words(str(path.relative_to(samples_dir).with_suffix("")).replace("/", " "))
        first = relative.split(" ")[0]
        distribution = path.parent.name if path.parent != samples_dir else first
        if distribution not in DISTRIBUTIONS and first in DISTRIBUTIONS:
            distribution = first
        padded = f" {relative} "
        label = next((c for c in by_length if f" {_words(c)} " in padded), None)
        groups.setdefault(distribution, []).append(GallerySample(path, distribution, label))
    order = {d: i for i, d in enumerate(DISTRIBUTIONS)}
    return dict(sorted(groups.items(), key=lambda item: order.get(item[0], len(order))))


def first_visit_keys(groups: dict[str, list[GallerySample]]) -> list[str]:
    """A first visit's pick on a pair that knows these classes: one reference sample and one shifted sample."""
    firsts = [items[0].key for items in groups.values() if items and items[0].label is not None]
    return firsts[:1] + firsts[2:3]
