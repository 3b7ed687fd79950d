"""Captions for pretraining pairs: a noisy, incomplete description of a scene, like web alt-text.

The caption recipe decides how good zero-shot can be. Size is named rarely (and sometimes wrongly),
so the pretrained model knows shapes well but sizes only vaguely: zero-shot is moderate and fine-tuning
on labelled data has something real to gain, as on ImageNet.
"""

from __future__ import annotations

import numpy as np

from wiseft_core.data.world import BACKGROUNDS, DISTRIBUTIONS, FOREGROUNDS, SIZE_WORDS, Scene

STYLE_PHRASES = {
    "photo": ("a photo of",),
    "v2": ("a photo of", "a blurry photo of"),
    "sketch": ("a sketch of", "a drawing of"),
    "rendition": ("a painting of", "a cartoon of"),
    "objectnet": ("a photo of", "a dark photo of"),
    "adversarial": ("a cluttered photo of", "a photo of"),
}
P_STYLE = 0.6
P_SIZE = 0.08
P_SIZE_WRONG = 0.2
P_FOREGROUND = 0.4
P_BACKGROUND = 0.25


def caption(rng: np.random.Generator, scene: Scene) -> str:
    """One caption for ``scene``: [style] a [size] [colour] shape [on a <colour> background]."""
    words: list[str] = []
    if rng.random() < P_STYLE:
        phrases = STYLE_PHRASES[scene.style]
        words.append(phrases[int(rng.integers(len(phrases)))])
    words.append("a")
    if rng.random() < P_SIZE:
        size = scene.size_word
        if rng.random() < P_SIZE_WRONG:
            size = SIZE_WORDS[1 - SIZE_WORDS.index(size)]
        words.append(size)
    if rng.random() < P_FOREGROUND:
        words.append(FOREGROUNDS[scene.foreground][0])
    words.append(scene.shape)
    if rng.random() < P_BACKGROUND:
        words.append(f"on a {BACKGROUNDS[scene.background][0]} background")
    return " ".join(words) + "."


def caption_words() -> set[str]:
    """Every word a caption can contain (the tokenizer's vocabulary is built from these)."""
    words = {"a", "on", "background"} | set(SIZE_WORDS)
    words |= {name for name, _ in BACKGROUNDS} | {name for name, _ in FOREGROUNDS}
    for style in DISTRIBUTIONS:
        for phrase in STYLE_PHRASES[style]:
            words |= set(phrase.split())
    return words
