"""A small Markdown subset to HTML for slide texts: the same HTML goes into the app and the export.

Supported: paragraphs, ``- `` bullets, ``1. `` numbered lines, ``**bold**``, ``*italic*`` and
```code```. Text is HTML-escaped first, so a text file can never inject markup.
"""

from __future__ import annotations

import html
import re

_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*(.+?)\*"), r"<em>\1</em>"),
    (re.compile(r"`(.+?)`"), r"<code>\1</code>"),
]
_NUMBERED = re.compile(r"^(\d+)\.\s+(.*)$")


def inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def to_html(lines: list[str] | tuple[str, ...]) -> str:
    """Lines of the subset -> HTML; consecutive bullets (or numbered lines) share one list."""
    parts: list[str] = []
    open_list: str | None = None
    for line in lines:
        line = line.rstrip()
        numbered = _NUMBERED.match(line)
        kind = "ul" if line.startswith("- ") else "ol" if numbered else None
        if kind != open_list and open_list:
            parts.append(f"</{open_list}>")
            open_list = None
        if kind and not open_list:
            parts.append(f"<{kind}>")
            open_list = kind
        if kind == "ul":
            parts.append(f"<li>{inline(line[2:])}</li>")
        elif kind == "ol":
            parts.append(f"<li>{inline(numbered.group(2))}</li>")
        elif line:
            parts.append(f"<p>{inline(line)}</p>")
    if open_list:
        parts.append(f"</{open_list}>")
    return "\n".join(parts)
