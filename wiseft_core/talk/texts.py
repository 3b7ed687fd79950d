"""Slide texts in one data file per language, so translators edit JSON and never code.

Every language file must have the same keys and the same step ids in the same order as English;
``load_texts`` checks that, so a half-translated file fails loudly instead of showing gaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from wiseft_core.errors import WiseftError

TEXTS_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "talk"
LANGS = ("en", "ru")


@dataclass(frozen=True)
class StepText:
    """One step's words: its id (stable across languages), title, body lines and speaker notes."""

    id: str
    title: str
    body: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Texts:
    """All words of the talk in one language."""

    lang: str
    ui: dict[str, str]
    labels: dict[str, str]
    distributions: dict[str, str]
    steps: tuple[StepText, ...]

    def step(self, step_id: str) -> StepText:
        return next(s for s in self.steps if s.id == step_id)


def _read(lang: str, folder: Path) -> dict:
    path = folder / f"{lang}.json"
    if not path.is_file():
        raise WiseftError(f"no talk texts for language {lang!r}: {path} is missing (languages: {', '.join(LANGS)})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise WiseftError(f"{path}: not valid JSON ({err})") from None


def _check_like(reference: dict, raw: dict, lang: str) -> None:
    """Same sections, keys and step ids as the reference language, in the same order."""
    for section in ("ui", "labels", "distributions"):
        missing = sorted(set(reference[section]) - set(raw.get(section, {})))
        if missing:
            raise WiseftError(f"talk texts {lang}.json: {section} lacks {', '.join(missing)}")
    ids = [s["id"] for s in reference["steps"]]
    got = [s.get("id") for s in raw.get("steps", [])]
    if got != ids:
        raise WiseftError(f"talk texts {lang}.json: steps must be {ids}, got {got}")


@lru_cache(maxsize=8)
def load_texts(lang: str = "en", folder: Path = TEXTS_DIR) -> Texts:
    """The talk's words in ``lang`` (``en`` or ``ru``), validated against the English file."""
    if lang not in LANGS:
        raise WiseftError(f"unknown talk language {lang!r}; expected one of {', '.join(LANGS)}")
    raw = _read(lang, folder)
    if lang != "en":
        _check_like(_read("en", folder), raw, lang)
    steps = tuple(StepText(s["id"], s["title"], tuple(s.get("body", [])), tuple(s.get("notes", [])))
                  for s in raw["steps"])
    return Texts(lang, dict(raw["ui"]), dict(raw["labels"]), dict(raw["distributions"]), steps)
