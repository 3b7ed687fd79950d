"""Text from files or links (class names, model names, file names, URL parameters) must stay text.

A checkpoint, a CSV or a link is untrusted input: a class named ``[log in](https://…)`` must not
become a live link, nor ``**`` bold, nor ``$x$`` LaTeX, nor ``<img onerror=…>`` markup. Markdown
(Streamlit) and Plotly's label HTML each get their own escaping here, applied where text meets them.
"""

from __future__ import annotations

import html
import re

_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


def escape_markdown(text: object) -> str:
    """``text`` with every Markdown/HTML-active character backslash-escaped and newlines flattened.

    Colons are escaped too, so ``https://…`` cannot be auto-linked; ``&`` so no HTML entity forms.
    """
    flat = " ".join(str(text).split())
    return _ACTIVE.sub(r"\\\1", flat)


def plot_text(text: object, template: bool = False) -> str:
    """``text`` for a Plotly label, legend or tick (or, with ``template``, a hover template): shown literally.

    Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``) and decodes entities in every
    text, so tags become entities; hover templates also substitute ``%{…}``, so there ``%`` becomes ``&#37;``.
    """
    escaped = html.escape(str(text), quote=False)
    return escaped.replace("%", "&#37;") if template else escaped
