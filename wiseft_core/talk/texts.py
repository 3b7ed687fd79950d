"""Slide texts in one data file per language, so translators edit JSON and never code.

Every language file must have the same keys and the same step ids in the same order as English;
``load_texts`` checks that, so a half-translated file fails loudly instead of showing gaps.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from wiseft_core.errors import WiseftError

TEXTS_DIR = Path(__file__).resolve().parent.parent.parent / "assets" / "talk"
LANGS = ("en", "ru")
SECTIONS = ("ui", "labels", "distributions", "classes", "demo_distributions")
PLAN_KEYS = frozenset({"order", "hide", "add", "show"})  # show: optional steps to switch on


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
    classes: dict[str, str] = field(default_factory=dict)  # the demo world's class names in this language
    demo_distributions: dict[str, str] = field(default_factory=dict)  # the demo world's distribution names

    def classname(self, name: str) -> str:
        """A class name in this language when the texts know it (the demo's), else as the model has it."""
        return self.classes.get(name, name)

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
    for section in SECTIONS:
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
    optional = frozenset(s["id"] for s in raw["steps"] if s.get("optional"))
    steps = apply_plan(steps, lang, read_plan(folder), optional)
    return Texts(lang, dict(raw["ui"]), dict(raw["labels"]), dict(raw["distributions"]), steps,
                 dict(raw.get("classes", {})), dict(raw.get("demo_distributions", {})))


def plan_path(folder: Path) -> Path | None:
    """The teacher's plan: ``$WISEFT_TALK_PLAN``, else ``plan.json`` next to the texts, else none."""
    wanted = os.environ.get("WISEFT_TALK_PLAN")
    if wanted:
        return Path(wanted)
    default = folder / "plan.json"
    return default if default.is_file() else None


def read_plan(folder: Path) -> dict:
    path = plan_path(folder)
    if path is None:
        return {}
    if not path.is_file():
        raise WiseftError(f"talk plan {path}: no such file (WISEFT_TALK_PLAN)")
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise WiseftError(f"talk plan {path}: not valid JSON ({err})") from None
    if not isinstance(plan, dict) or set(plan) - PLAN_KEYS:
        raise WiseftError(f"talk plan {path}: expected an object with {', '.join(sorted(PLAN_KEYS))}; "
                          f"got {sorted(plan)}")
    return {**plan, "path": str(path)}


def _added(entry: dict, lang: str, where: str) -> StepText:
    def pick(key: str, default):
        value = entry.get(key, default)
        return value.get(lang, value.get("en", default)) if isinstance(value, dict) else value

    if not isinstance(entry, dict) or not entry.get("id") or not pick("title", ""):
        raise WiseftError(f"{where}: each added step needs an id and a title, got {entry!r}")
    return StepText(str(entry["id"]), str(pick("title", "")), tuple(pick("body", [])), tuple(pick("notes", [])))


def apply_plan(steps: tuple[StepText, ...], lang: str, plan: dict,
               optional: frozenset[str] = frozenset()) -> tuple[StepText, ...]:
    """A teacher's plan applied to the steps: added steps (text, in both languages), then order, then hide.

    ``optional`` steps (``"optional": true`` in the texts) are left out unless the plan's ``show`` or
    ``order`` names them: they are there for the teachers who want them.
    """
    wanted = set(plan.get("show", [])) | set(plan.get("order") or [])
    if not plan:
        return tuple(s for s in steps if s.id not in optional)
    where = f"talk plan {plan['path']}"
    unknown_shown = sorted(set(plan.get("show", [])) - {s.id for s in steps})
    if unknown_shown:
        raise WiseftError(f"{where}: show names {unknown_shown}, which are not steps; optional steps are "
                          f"{sorted(optional)}")
    steps = tuple(s for s in steps if s.id not in optional or s.id in wanted)
    out = list(steps)
    for entry in plan.get("add", []):
        step = _added(entry, lang, where)
        ids = [s.id for s in out]
        if step.id in ids:
            raise WiseftError(f"{where}: added step id {step.id!r} is already a step")
        after = entry.get("after")
        if after is not None and after not in ids:
            raise WiseftError(f"{where}: added step {step.id!r} goes after {after!r}, which is not a step ({ids})")
        out.insert(ids.index(after) + 1 if after is not None else len(out), step)
    by_id = {s.id: s for s in out}
    order = plan.get("order") or [s.id for s in out]
    unknown = [i for i in [*order, *plan.get("hide", [])] if i not in by_id and i not in optional]
    if unknown:
        raise WiseftError(f"{where}: unknown step ids {unknown}; steps are {list(by_id)}")
    shown = tuple(by_id[i] for i in order if i not in set(plan.get("hide", [])))
    if not shown:
        raise WiseftError(f"{where}: the plan hides every step")
    return shown
