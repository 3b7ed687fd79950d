"""The offline demo world: procedural images mirroring ImageNet's shifts and a tiny CLIP trained on them.

``world`` draws the images and serves ``demo:<name>`` datasets, ``captions``/``tokenizer`` give the
pretraining text, ``model_config`` registers ``demo-clip`` with open_clip, ``pretrain`` trains it
contrastively and ``build`` runs the whole pipeline behind ``wiseft demo build``; ``findings`` checks the
paper's lesson on a sweep and ``seeds`` re-checks it for other seeds (``wiseft demo seeds``).
"""

from wiseft_core.data.world import (
    CLASSNAMES,
    DISTRIBUTIONS,
    REFERENCE,
    SHIFTS,
    TEMPLATES,
    demo_dataset,
    tokenizer,
)

__all__ = ["CLASSNAMES", "DISTRIBUTIONS", "REFERENCE", "SHIFTS", "TEMPLATES", "demo_dataset", "tokenizer"]
