"""Zero-shot heads: class-name prompts through the text tower become the classifier's weights.

We reuse open_clip's own `build_zero_shot_classifier` and ImageNet metadata rather than copy them;
the only addition is folding the temperature (logit_scale.exp()) into the head, as the paper does,
so zero-shot logits equal CLIP's and the head can be fine-tuned and interpolated like any layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
from wiseft_core.models import ImageClassifier

TEMPLATE_SETS: dict[str, Sequence[Callable[[str], str]]] = {
    "openai": OPENAI_IMAGENET_TEMPLATES,
    "simple": SIMPLE_IMAGENET_TEMPLATES,
}


def _lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise WiseftError(f"{what} file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise WiseftError(f"{what} file {path} is empty")
    return lines


def load_classnames(spec: str) -> list[str]:
    """'imagenet' (open_clip's 1000 names) or a text file with one class name per line."""
    if spec == "imagenet":
        return list(IMAGENET_CLASSNAMES)
    return _lines(Path(spec), "class names")


def load_templates(spec: str) -> list[Callable[[str], str]]:
    """'openai' (80 CLIP prompts), 'simple' (7) or a text file with one `{}`-template per line."""
    if spec in TEMPLATE_SETS:
        return list(TEMPLATE_SETS[spec])
    lines = _lines(Path(spec), "templates")
    bad = [line for line in lines if "{}" not in line]
    if bad:
        raise WiseftError(f"every template in {spec} needs a '{{}}' for the class name; not: {bad[0]!r}")
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
    import copy

    head = zero_shot_head(clip_model, tokenizer, classnames, templates)
    return ImageClassifier(copy.deepcopy(clip_model.visual), head).eval()
