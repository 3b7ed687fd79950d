"""Text from files or links (class names, model names, file names, URL parameters) must stay text.

A checkpoint, a CSV or a link is untrusted input: a class named ``[log in](https://…)`` must not
become a live link, nor ``**`` bold, nor ``$x$`` LaTeX, nor ``<img onerror=…>`` markup. Markdown
(Streamlit) and Plotly's label HTML each get their own escaping here, applied where text meets them.
"""

from __future__ import annotations

import html
import re

_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


WORD_JOINER = "\u2060"  # invisible, zero width: the text reads and prints the same
# What GitHub-flavoured Markdown links by itself, even when every character is escaped (the autolink
# rule runs on the text after escapes are resolved): a scheme's "://", "www." and an e-mail's "@".
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)


def escape_markdown(text: object) -> str:
    """``text`` with every Markdown/HTML-active character backslash-escaped and newlines flattened.

    ``&`` is escaped so no HTML entity forms; a word joiner goes inside ``://``, ``www.`` and before
    ``@`` so ``https://…``, ``www.…`` and addresses are never auto-linked (a browser test shows they
    were, with the colon escaped).
    """
    flat = " ".join(str(text).split())
    return _ACTIVE.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, flat))


def plot_text(text: object, template: bool = False) -> str:
    """``text`` for a Plotly label, legend or tick (or, with ``template``, a hover template): shown literally.

    Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``) and decodes entities in every
    text, so tags become entities; hover templates also substitute ``%{…}``, so there ``%`` becomes ``&#37;``.
    """
    escaped = html.escape(str(text), quote=False)
    return escaped.replace("%", "&#37;") if template else escaped
