"""The app's visible strings in every language, from one JSON file per language that translators edit.

``assets/i18n/<lang>.json`` holds ``{"strings": {key: text}}``; texts may name ``{fields}`` (lower-case
names in braces; any other brace is plain text) that the code fills in. Every language must have exactly
English's keys and, per key, the same fields: a file that lacks a key, adds one or drops a field fails on
load with one line naming the file and the key, so a half-translated file never reaches a viewer.
(The talk's slides have their own files, ``assets/talk/``.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from wiseft_core.errors import WiseftError

I18N_DIR = Path(__file__).resolve().parents[2] / "assets" / "i18n"
LANGS = ("en", "ru")
DEFAULT_LANG = "en"
LANG_NAMES = {"en": "English", "ru": "Русский"}


FIELD = re.compile(r"(\\[A-Za-z]+)?\{([a-z_][a-z0-9_]*)\}")  # {name}; LaTeX's \text{x} and other braces are text


def _fields(text: str) -> set[str]:
    return {name for command, name in FIELD.findall(text) if not command}


def _fill(match: re.Match, fields: dict) -> str:
    command, name = match.groups()
    return str(fields[name]) if not command and name in fields else match.group(0)


def _read(lang: str, folder: Path) -> dict[str, str]:
    path = folder / f"{lang}.json"
    if not path.is_file():
        raise WiseftError(f"no app strings for language {lang!r}: {path} is missing")
    try:
        strings = json.loads(path.read_text(encoding="utf-8")).get("strings")
    except (json.JSONDecodeError, AttributeError) as err:
        raise WiseftError(f"{path}: not a JSON object with a 'strings' object ({err})") from None
    if not isinstance(strings, dict) or not all(isinstance(v, str) and v for v in strings.values()):
        raise WiseftError(f"{path}: 'strings' must map each key to a non-empty text")
    return strings


def _check_like(reference: dict[str, str], strings: dict[str, str], lang: str) -> None:
    """Same keys as English, and per key the same ``{fields}``."""
    missing, extra = sorted(set(reference) - set(strings)), sorted(set(strings) - set(reference))
    if missing:
        raise WiseftError(f"app strings {lang}.json lacks {len(missing)} key(s): {', '.join(missing[:8])}")
    if extra:
        raise WiseftError(f"app strings {lang}.json has key(s) English does not: {', '.join(extra[:8])}")
    for key, text in reference.items():
        if _fields(strings[key]) != _fields(text):
            raise WiseftError(f"app strings {lang}.json, {key}: fields {sorted(_fields(strings[key]))}, "
                              f"expected {sorted(_fields(text))} as in English")


@lru_cache(maxsize=8)
def load_strings(lang: str = DEFAULT_LANG, folder: Path = I18N_DIR) -> Mapping[str, str]:
    """Every visible string of the app in ``lang``, checked against English."""
    if lang not in LANGS:
        raise WiseftError(f"unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    strings = _read(lang, folder)
    if lang != DEFAULT_LANG:
        _check_like(_read(DEFAULT_LANG, folder), strings, lang)
    return strings


def translate(lang: str, key: str, **fields: object) -> str:
    """The text for ``key`` in ``lang`` with its ``{fields}`` filled in; an unknown key is a programming error."""
    strings = load_strings(lang if lang in LANGS else DEFAULT_LANG)
    if key not in strings:
        raise KeyError(f"no app string {key!r} in assets/i18n/ (add it to every language file)")
    return FIELD.sub(lambda match: _fill(match, fields), strings[key])


def pick_lang(requested: str | None) -> str:
    """A language from a URL or a form: one of ``LANGS``, else English."""
    return requested if requested in LANGS else DEFAULT_LANG
