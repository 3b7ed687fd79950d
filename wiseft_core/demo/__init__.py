"""The offline demo world's build: a tiny CLIP pretrained on the world's images, its fine-tunes and measurements.

The world itself (images mirroring ImageNet's shifts, captions, tokenizer) lives in ``wiseft_core.data``;
``model_config`` registers ``demo-clip`` with open_clip, ``pretrain`` trains it contrastively and ``build`` runs
the whole pipeline behind ``wiseft demo build``; ``findings`` checks the paper's lesson on a sweep and ``seeds``
re-checks it for other seeds (``wiseft demo seeds``); ``assets`` names the shipped files.
"""
