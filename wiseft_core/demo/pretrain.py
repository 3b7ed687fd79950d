"""Contrastive pretraining of ``demo-clip`` on generated image-caption pairs (open_clip's ``ClipLoss``).

Pairs mix all six styles with the background colour drawn at random (no spurious cue), so the
pretrained model is broadly robust but, like CLIP, imprecise on what the captions rarely say (size).
They are drawn with the world's frozen ``PRETRAIN_LOOK``: the benchmark shifts can change without
changing the pretrained model.
Images are generated once into a compact uint8 tensor; training then runs on tensors only.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from open_clip.loss import ClipLoss

from wiseft_core.data.captions import caption
from wiseft_core.data.tokenizer import VOCAB, DemoTokenizer
from wiseft_core.data.world import DISTRIBUTIONS, NUM_CLASSES, PRETRAIN_LOOK, WORLD_SEED, render, sample_scene
from wiseft_core.train.finetune import cosine_lr

# Share of each style among pretraining pairs: the photo-like styles a little more, like web data.
STYLE_WEIGHTS = {
    "photo": 0.2, "v2": 0.2, "sketch": 0.15, "rendition": 0.15, "objectnet": 0.15, "adversarial": 0.15,
}
_PRETRAIN_STREAM = 99  # keeps pretraining seeds apart from every (distribution, split) test/val/train seed


@dataclass
class PretrainRecipe:
    pairs: int = 200_000
    steps: int = 2400
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 200
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def pretraining_pair(seed: int, index: int) -> tuple[np.ndarray, str]:
    """Pair ``index`` of pretraining stream ``seed``: a uint8 HxWx3 image and its caption."""
    rng = np.random.default_rng([WORLD_SEED, _PRETRAIN_STREAM, seed, index])
    style = DISTRIBUTIONS[int(rng.choice(len(DISTRIBUTIONS), p=[STYLE_WEIGHTS[d] for d in DISTRIBUTIONS]))]
    scene = sample_scene(rng, style, int(rng.integers(NUM_CLASSES)))
    image = render(rng, scene, PRETRAIN_LOOK)
    return np.asarray(image, dtype=np.uint8), caption(rng, scene)


def world_fingerprint(count: int = 240) -> str:
    """A digest of the pretraining world as drawn: pixels and captions of the first pairs, and the vocabulary.

    Measured rather than declared, so any change that alters pretraining data (a renderer, a caption
    rule, a library's resampling) changes it; ``--reuse-pretrained`` compares it before reusing weights.
    """
    digest = hashlib.sha256()
    for index in range(count):
        image, text = pretraining_pair(0, index)
        digest.update(image.tobytes())
        digest.update(text.encode())
    digest.update(" ".join(VOCAB).encode())
    return digest.hexdigest()[:16]


def _pair_chunk(args: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
    seed, start, stop = args
    images, texts = [], []
    for i in range(start, stop):
        image, text = pretraining_pair(seed, i)
        images.append(image)
        texts.append(text)
    return np.stack(images), texts


def generate_pairs(
    count: int, seed: int = 0, workers: int = 2, progress: Callable[[str], None] | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``count`` pairs as (uint8 images [n,3,32,32], token ids [n,context_length], captions)."""
    chunk = 2000
    jobs = [(seed, s, min(s + chunk, count)) for s in range(0, count, chunk)]
    images, texts = [], []
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for done, (imgs, txts) in enumerate(pool.imap(_pair_chunk, jobs), 1):
                images.append(imgs)
                texts += txts
                if progress and done % 10 == 0:
                    progress(f"generated {len(texts)}/{count} pairs")
    else:
        for imgs, txts in map(_pair_chunk, jobs):
            images.append(imgs)
            texts += txts
    array = torch.from_numpy(np.concatenate(images)).permute(0, 3, 1, 2).contiguous()
    return array, DemoTokenizer()(texts), texts


def normalise(images_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 [n,3,H,W] -> the float input open_clip's transform would produce."""
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return (images_uint8.float() / 255.0 - mean_t) / std_t


def pretrain(clip_model: torch.nn.Module, images: torch.Tensor, tokens: torch.Tensor, recipe: PretrainRecipe,
             mean, std, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Train ``clip_model`` in place with the symmetric contrastive loss; returns the loss log."""
    generator = torch.Generator().manual_seed(recipe.seed)
    decay = [p for n, p in clip_model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    no_decay = [p for n, p in clip_model.named_parameters() if p.ndim < 2 or "logit_scale" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr, betas=recipe.betas,
    )
    loss_fn = ClipLoss()
    clip_model.train()
    log, start = [], time.time()
    for step in range(recipe.steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, recipe.lr, recipe.warmup_steps, recipe.steps)
        idx = torch.randint(len(images), (recipe.batch_size,), generator=generator)
        batch = normalise(images[idx], mean, std)
        out = clip_model(batch, tokens[idx])
        if isinstance(out, dict):
            out = (out["image_features"], out["text_features"], out["logit_scale"])
        loss = loss_fn(*out[:3])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # CLIP clamps the temperature at 100
            clip_model.logit_scale.clamp_(0, math.log(100))
        if step % 100 == 0 or step == recipe.steps - 1:
            entry = {"step": step, "loss": round(loss.item(), 4),
                     "logit_scale": round(clip_model.logit_scale.exp().item(), 2),
                     "seconds": round(time.time() - start, 1)}
            log.append(entry)
            if progress:
                progress(f"pretrain step {step}/{recipe.steps} loss {entry['loss']} "
                         f"scale {entry['logit_scale']} ({entry['seconds']} s)")
    clip_model.eval()
    return log
