"""The demo world's open_clip architecture, registered as ``demo-clip``.

A ModifiedResNet image tower (the RN50 family, shrunk to width 16 and 32x32 inputs) and a 2-layer text
transformer over the world's word-level vocabulary: about 1.5 M parameters, trainable on a CPU in minutes.
A 0.5 M-parameter ViT was far too weak in a prototype; convolutions suit 32x32 shapes.
Checkpoints store this full config, so loading never depends on this registration.
"""

from __future__ import annotations

import copy

from wiseft_core.data.tokenizer import CONTEXT_LENGTH, VOCAB_SIZE

MODEL_NAME = "demo-clip"
MODEL_CONFIG: dict = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {
        "context_length": CONTEXT_LENGTH, "vocab_size": VOCAB_SIZE, "width": 64, "heads": 2, "layers": 2,
    },
}


def register() -> dict:
    """Make ``open_clip.create_model('demo-clip')`` work; returns a copy of the config."""
    from wiseft_core.files.models import register_model_config

    register_model_config(MODEL_NAME, MODEL_CONFIG)
    return copy.deepcopy(MODEL_CONFIG)
