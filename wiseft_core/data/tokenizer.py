"""A word-level tokenizer for the demo world's tiny vocabulary.

open_clip's text tower pools the token with the largest id (``pool_type='argmax'``), which for its BPE
tokenizer is end-of-text; we keep that contract by giving EOT the largest id here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from wiseft_core.data.captions import caption_words
from wiseft_core.data.world import SHAPES, TEMPLATES

CONTEXT_LENGTH = 16
PAD, UNK, SOT = "<pad>", "<unk>", "<sot>"
EOT = "<eot>"


def _words_in(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def vocabulary() -> list[str]:
    """Fixed, sorted vocabulary: pad=0, unk, sot, the words, and EOT last (largest id)."""
    words = caption_words() | set(SHAPES)
    for template in TEMPLATES:
        words |= set(_words_in(template.replace("{}", "")))
    return [PAD, UNK, SOT, *sorted(words), EOT]


VOCAB = vocabulary()
VOCAB_SIZE = len(VOCAB)


class DemoTokenizer:
    """Callable like open_clip's tokenizers: ``tokenizer(texts) -> LongTensor [n, context_length]``."""

    def __init__(self, context_length: int = CONTEXT_LENGTH):
        self.context_length = context_length
        self.ids = {word: i for i, word in enumerate(VOCAB)}
        self.eot_id = self.ids[EOT]
        self.sot_id = self.ids[SOT]

    def encode(self, text: str) -> list[int]:
        unk = self.ids[UNK]
        return [self.ids.get(word, unk) for word in _words_in(text)]

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        length = context_length or self.context_length
        out = torch.zeros(len(texts), length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text)][: length - 1] + [self.eot_id]
            out[row, : len(ids)] = torch.tensor(ids)
        return out
