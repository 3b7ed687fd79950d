"""Zero-shot heads: class-name prompts through the text tower become the classifier's weights.

We reuse open_clip's own `build_zero_shot_classifier` and ImageNet metadata rather than copy them;
the only addition is folding the temperature (logit_scale.exp()) into the head, as the paper does,
so zero-shot logits equal CLIP's and the head can be fine-tuned and interpolated like any layer.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from open_clip.zero_shot_metadata import (
    IMAGENET_CLASSNAMES,
    OPENAI_IMAGENET_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
)
from torch import nn

from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import CheckpointMeta, save_classifier
from wiseft_core.files.models import RANDOM_WEIGHTS, ImageClassifier, Preprocessing, create_clip

# Named prompt sets. "openai" is CLIP's 80 ImageNet prompts (the paper's and the reference code's default).
# Two different sets are called "simple" elsewhere, so neither is called that here: open_clip's 7 prompts
# are "openclip-simple", the reference code's one-prompt `simple_template` is "reference-simple".
TEMPLATE_SETS: dict[str, Sequence[Callable[[str], str]]] = {
    "openai": OPENAI_IMAGENET_TEMPLATES,
    "openclip-simple": SIMPLE_IMAGENET_TEMPLATES,
    "reference-simple": (lambda c: f"a photo of a {c}.",),
}
# Earlier checkpoints and commands wrote "simple" for open_clip's 7 prompts; it still reads as that.
TEMPLATE_ALIASES = {"simple": "openclip-simple"}


def _lines(path: Path, what: str) -> list[str]:
    if path.is_dir():
        raise WiseftError(f"{what} file {path} is a folder; give a text file with one entry per line")
    if not path.is_file():
        raise WiseftError(f"{what} file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise WiseftError(f"{what} file {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise WiseftError(f"{what} file {path} is empty")
    for number, line in enumerate(lines, 1):
        if any(ord(c) < 32 or ord(c) == 127 for c in line):
            raise WiseftError(f"{what} file {path}: entry {number} holds control characters (NUL, escape ...); "
                              "is it a text file?")
    return lines


def load_classnames(spec: str) -> list[str]:
    """'imagenet' (open_clip's 1000 names) or a text file with one class name per line."""
    if spec == "imagenet":
        return list(IMAGENET_CLASSNAMES)
    return _lines(Path(spec), "class names")


MAX_CLASSNAME_CHARS = 1000


def parse_classnames(data: bytes, name: str) -> list[str]:
    """Class names from a text file's bytes (one per line, ``#`` comments), decoded strictly as UTF-8.

    For files a viewer uploads or picks: bounded, and every failure is one line naming the file.
    """
    from wiseft_core.files.models import MAX_CLASSES

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise WiseftError(f"{name}: not UTF-8 text (byte {err.start}); save it as UTF-8, one class name a line") \
            from None
    lines = [line.strip() for line in text.splitlines()]
    names = [line for line in lines if line and not line.startswith("#")]
    if not names:
        raise WiseftError(f"{name}: no class names (one a line)")
    if len(names) > MAX_CLASSES:
        raise WiseftError(f"{name}: {len(names)} class names, more than the {MAX_CLASSES} allowed")
    long = next((i for i, n in enumerate(names) if len(n) > MAX_CLASSNAME_CHARS), None)
    if long is not None:
        raise WiseftError(f"{name}: class name {long + 1} is longer than {MAX_CLASSNAME_CHARS} characters")
    return names


def template_set_name(spec: str) -> str | None:
    """The canonical name of a named prompt set ('simple' -> 'openclip-simple'); None for a file."""
    name = TEMPLATE_ALIASES.get(spec, spec)
    return name if name in TEMPLATE_SETS else None


def load_templates(spec: str) -> list[Callable[[str], str]]:
    """A named set (openai: 80, openclip-simple: 7, reference-simple: 1) or a file of `{}`-templates, one a line."""
    name = template_set_name(spec)
    if name is not None:
        return list(TEMPLATE_SETS[name])
    lines = _lines(Path(spec), "templates")
    bad = [line for line in lines if "{}" not in line]
    if bad:
        raise WiseftError(f"every template in {spec} needs a '{{}}' for the class name; not: {bad[0]!r}")
    for line in lines:
        try:
            line.format("x")
        except (ValueError, IndexError, KeyError, AttributeError) as err:
            raise WiseftError(f"template {line!r} in {spec} is not a valid template: {err} (use one '{{}}' for the "
                              "class name; write other braces as '{{{{' and '}}}}')") from None
    return [line.format for line in lines]


def template_strings(templates: Sequence[Callable[[str], str] | str]) -> list[str]:
    """Templates as `{}` strings for checkpoint metadata."""
    return [t if isinstance(t, str) else t("{}") for t in templates]


@torch.no_grad()
def zero_shot_head(
    clip_model: nn.Module,
    tokenizer: Callable,
    classnames: Sequence[str],
    templates: Sequence[Callable[[str], str] | str],
) -> nn.Linear:
    """Linear head = normalised mean prompt embedding per class x logit_scale.exp(), zero bias."""
    device = next(clip_model.parameters()).device
    weights = open_clip.build_zero_shot_classifier(
        clip_model, tokenizer, classnames, templates, num_classes_per_batch=10, device=device
    )  # [embed_dim, classes], columns L2-normalised
    scale = clip_model.logit_scale.exp().item()
    head = nn.Linear(weights.shape[0], weights.shape[1], bias=True)
    head.weight.copy_((weights.T * scale).float())
    head.bias.zero_()
    return head.to(device)


def zero_shot_classifier(
    clip_model: nn.Module,
    tokenizer: Callable,
    classnames: Sequence[str],
    templates: Sequence[Callable[[str], str] | str],
) -> ImageClassifier:
    """The zero-shot classifier: a deep copy of the image tower plus the zero-shot head."""
    head = zero_shot_head(clip_model, tokenizer, classnames, templates)
    return ImageClassifier(copy.deepcopy(clip_model.visual), head).eval()


@dataclass
class ZeroShotCheckpoint:
    """A built zero-shot classifier, the metadata that makes it self-describing, and the CLIP it came from."""

    classifier: ImageClassifier
    meta: CheckpointMeta
    clip_model: nn.Module


def build_zeroshot_checkpoint(
    model_name: str,
    classnames: Sequence[str],
    templates: str | Sequence[Callable[[str], str] | str] = "openai",
    pretrained: str | None = None,
    *,
    seed: int = 0,
    model_config: dict | None = None,
    clip: tuple[nn.Module, dict, Preprocessing] | None = None,
    tokenizer: Callable | None = None,
    device: str | torch.device = "cpu",
    extra: dict | None = None,
    out: str | os.PathLike | None = None,
    dtype: torch.dtype | None = None,
) -> ZeroShotCheckpoint:
    """CLIP -> zero-shot head -> metadata (-> file at ``out``): the one way a zero-shot checkpoint is made.

    The CLIP model is open_clip's ``model_name`` with ``pretrained`` weights (a tag, a file, or
    None/'none' for random weights seeded by ``seed``; ``model_config`` registers a new name), or
    ``clip`` = (model, config, preprocessing) already built, as the demo world's pretrained CLIP is.
    ``templates`` is a set name, a file, or the templates themselves.
    """
    prompts = load_templates(templates) if isinstance(templates, str) else list(templates)  # a bad file fails first
    set_name = template_set_name(templates) if isinstance(templates, str) else None
    if clip is None:
        clip = create_clip(model_name, pretrained, seed=seed, model_config=model_config)
    clip_model, config, preprocessing = clip
    clip_model.to(device)
    classifier = zero_shot_classifier(clip_model, tokenizer or open_clip.get_tokenizer(model_name),
                                      list(classnames), prompts)
    random_weights = pretrained is None or pretrained.lower() in RANDOM_WEIGHTS
    meta = CheckpointMeta(
        model_name=model_name, model_config=config, pretrained=None if random_weights else pretrained,
        classnames=list(classnames), templates=set_name or template_strings(prompts), preprocessing=preprocessing,
        recipe=None, extra={**({"seed": seed} if random_weights else {}), **(extra or {})},
    )
    if out is not None:
        save_classifier(out, classifier, meta, dtype=dtype)
    return ZeroShotCheckpoint(classifier, meta, clip_model)
