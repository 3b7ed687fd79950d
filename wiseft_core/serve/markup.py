"""Text from files (class names, model names, file names) shown inside Markdown must stay text.

A checkpoint is untrusted input: a class named ``[log in](https://…)`` must not become a live link,
nor ``**`` bold, nor ``$x$`` LaTeX. Escaping every Markdown-active character makes it literal.
"""

from __future__ import annotations

import re

_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


def escape_markdown(text: object) -> str:
    """``text`` with every Markdown/HTML-active character backslash-escaped and newlines flattened.

    Colons are escaped too, so ``https://…`` cannot be auto-linked; ``&`` so no HTML entity forms.
    """
    flat = " ".join(str(text).split())
    return _ACTIVE.sub(r"\\\1", flat)
