"""Files written the way the reference WiSE-FT code (mlfoundations/wise-ft) writes them, for tests.

This is an independent, plain-PyTorch re-implementation of what that code pickles: OpenAI's CLIP
(``clip.model.CLIP`` with a VisionTransformer or a ModifiedResNet, QuickGELU, fp32) wrapped in
``src.models.modeling.ImageClassifier`` / ``ImageEncoder`` / ``ClassificationHead``, the text
transformer deleted but its six leftover tensors kept, torchvision transforms attached, and saved with
``pickle.dump(classifier, f)`` (protocol 4). The classes carry the reference's module paths while a
file is written; they are never importable while our reader runs. Nothing here uses wiseft_core or
open_clip, so the numbers it computes are an independent check of ours.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import (
    CenterCrop,
    Compose,
    InterpolationMode,
    Normalize,
    RandomResizedCrop,
    Resize,
    ToTensor,
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------------------- clip.model

class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def _attention(x: torch.Tensor, attn: nn.MultiheadAttention, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head self-attention written out (sequence-first, like OpenAI's code)."""
    length, batch, width = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

    def split(t):
        return t.reshape(length, batch * heads, width // heads).transpose(0, 1)

    q, k, v = split(q), split(k), split(v)
    scores = q @ k.transpose(1, 2) / math.sqrt(width // heads)
    if mask is not None:
        scores = scores + mask
    out = (scores.softmax(dim=-1) @ v).transpose(0, 1).reshape(length, batch, width)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model: int, n_head: int, attn_mask=None, activation: type = QuickGELU):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)), ("gelu", activation()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def forward(self, x):
        x = x + _attention(self.ln_1(x), self.attn, self.attn_mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, attn_mask=None, activation: type = QuickGELU):
        super().__init__()
        self.width, self.layers = width, layers
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask, activation)
                                         for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim, activation=QuickGELU):
        super().__init__()
        self.input_resolution, self.output_dim = input_resolution, output_dim
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, activation=activation)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride > 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion)),
            ]))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim: int, embed_dim: int, num_heads: int, output_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj, self.q_proj, self.v_proj = (nn.Linear(embed_dim, embed_dim) for _ in range(3))
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.num_heads = num_heads

    def forward(self, x):
        x = x.flatten(2).permute(2, 0, 1)  # (HW, N, C)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + self.positional_embedding[:, None, :]
        tokens, batch, width = x.shape
        head = width // self.num_heads
        q = self.q_proj(x[:1]).reshape(1, batch * self.num_heads, head).transpose(0, 1)
        k = self.k_proj(x).reshape(tokens, batch * self.num_heads, head).transpose(0, 1)
        v = self.v_proj(x).reshape(tokens, batch * self.num_heads, head).transpose(0, 1)
        weights = (q @ k.transpose(1, 2) / math.sqrt(head)).softmax(dim=-1)
        return self.c_proj((weights @ v).transpose(0, 1).reshape(batch, width))


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, input_resolution=224, width=64):
        super().__init__()
        self.output_dim, self.input_resolution = output_dim, input_resolution
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self.relu = nn.ReLU(inplace=True)
        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.attnpool = AttentionPool2d(input_resolution // 32, width * 32, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = self.relu(bn(conv(x)))
        x = self.avgpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                 context_length=8, vocab_size=64, transformer_width=64, transformer_heads=1, transformer_layers=1,
                 activation=QuickGELU):
        super().__init__()
        self.context_length = context_length
        if isinstance(vision_layers, (tuple, list)):
            self.visual = ModifiedResNet(vision_layers, embed_dim, vision_width * 32 // 64, image_resolution,
                                         vision_width)
        else:
            self.visual = VisionTransformer(image_resolution, vision_patch_size, vision_width, vision_layers,
                                            vision_width // 64, embed_dim, activation)
        self.transformer = Transformer(transformer_width, transformer_layers, transformer_heads)
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context_length, transformer_width))
        self.ln_final = LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(transformer_width ** -0.5 * torch.randn(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_image(self, image):
        return self.visual(image)


# ---------------------------------------------------------------------------- clip.clip and src.models.modeling

def _convert_to_rgb(image):
    return image.convert("RGB")


def clip_transform(n_px: int, is_train: bool) -> Compose:
    normalize = Normalize(CLIP_MEAN, CLIP_STD)
    if is_train:
        return Compose([RandomResizedCrop(n_px, scale=(0.9, 1.0), interpolation=InterpolationMode.BICUBIC),
                        _convert_to_rgb, ToTensor(), normalize])
    return Compose([Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px), _convert_to_rgb,
                    ToTensor(), normalize])


class ImageEncoder(nn.Module):
    def __init__(self, model: CLIP, keep_lang: bool = False):
        super().__init__()
        self.model = model
        resolution = model.visual.input_resolution
        self.train_preprocess, self.val_preprocess = clip_transform(resolution, True), clip_transform(resolution, False)
        self.cache_dir = None
        if not keep_lang and hasattr(self.model, "transformer"):
            delattr(self.model, "transformer")

    def forward(self, images):
        return self.model.encode_image(images)


class ClassificationHead(nn.Linear):
    def __init__(self, normalize, weights, biases=None):
        output_size, input_size = weights.shape
        super().__init__(input_size, output_size)
        self.normalize = normalize
        self.weight = nn.Parameter(weights.clone())
        self.bias = nn.Parameter(biases.clone() if biases is not None else torch.zeros_like(self.bias))

    def forward(self, inputs):
        if self.normalize:
            inputs = inputs / inputs.norm(dim=-1, keepdim=True)
        return super().forward(inputs)


class ImageClassifier(nn.Module):
    def __init__(self, image_encoder, classification_head, process_images=True):
        super().__init__()
        self.image_encoder = image_encoder
        self.classification_head = classification_head
        self.process_images = process_images
        if self.image_encoder is not None:
            self.train_preprocess = self.image_encoder.train_preprocess
            self.val_preprocess = self.image_encoder.val_preprocess

    def forward(self, inputs):
        if self.process_images:
            inputs = self.image_encoder(inputs)
        return self.classification_head(inputs)


_MODULES = {
    "clip.model": [LayerNorm, QuickGELU, ResidualAttentionBlock, Transformer, VisionTransformer, Bottleneck,
                   AttentionPool2d, ModifiedResNet, CLIP],
    "clip.clip": [_convert_to_rgb],
    "src.models.modeling": [ImageEncoder, ClassificationHead, ImageClassifier],
}


@contextlib.contextmanager
def reference_module_paths():
    """While writing, the classes live at the reference code's paths (``clip.model.CLIP``, ...); afterwards not."""
    saved = {}
    created = []
    for module_name, objects in _MODULES.items():
        for obj in objects:
            saved[obj] = obj.__module__
            obj.__module__ = module_name
        parts = module_name.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in sys.modules:
                sys.modules[name] = types.ModuleType(name)
                created.append(name)
        for obj in objects:
            setattr(sys.modules[module_name], obj.__name__, obj)
    try:
        yield
    finally:
        for obj, module_name in saved.items():
            obj.__module__ = module_name
        for name in created:
            del sys.modules[name]


# ---------------------------------------------------------------------------- building and writing

TINY_VIT = {"embed_dim": 32, "image_resolution": 32, "vision_layers": 2, "vision_width": 128, "vision_patch_size": 8}
TINY_RESNET = {"embed_dim": 32, "image_resolution": 64, "vision_layers": [1, 2, 1, 1], "vision_width": 8,
               "vision_patch_size": None}


def zeroshot_classifier(arch: dict, classes: int, seed: int, activation: type = QuickGELU) -> ImageClassifier:
    """wise-ft's zeroshot.pt: random OpenAI-layout CLIP, a normalised head with the temperature folded in."""
    torch.manual_seed(seed)
    clip_model = CLIP(**arch, activation=activation)
    for module in clip_model.modules():  # non-trivial BatchNorm statistics, as a trained ResNet has
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    weights = F.normalize(torch.randn(classes, arch["embed_dim"]), dim=-1) * clip_model.logit_scale.exp()
    encoder = ImageEncoder(clip_model, keep_lang=True)
    delattr(encoder.model, "transformer")  # as wise_ft.py does after building the zero-shot head
    return ImageClassifier(encoder, ClassificationHead(normalize=True, weights=weights), process_images=False).eval()


def finetuned_from(zeroshot: ImageClassifier, seed: int, scale: float = 0.02) -> ImageClassifier:
    """A stand-in for wise-ft's fine-tuning: every floating tensor moved by seeded noise."""
    import copy

    model = copy.deepcopy(zeroshot)
    model.process_images = True
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                noise = scale * torch.randn(tensor.shape, generator=generator)
                tensor.add_(noise.abs() if "running_var" in name else noise)
    return model.eval()


def merged(zeroshot: ImageClassifier, finetuned: ImageClassifier, alpha: float) -> ImageClassifier:
    """wise_ft.py's _merge + load_state_dict: theta = (1 - alpha) theta_0 + alpha theta_1, key by key."""
    import copy

    theta_0, theta_1 = zeroshot.state_dict(), finetuned.state_dict()
    theta = {k: (1 - alpha) * theta_0[k] + alpha * theta_1[k] for k in theta_0}
    model = copy.deepcopy(finetuned)
    model.load_state_dict(theta)
    return model.eval()


@torch.no_grad()
def logits(classifier: ImageClassifier, images: torch.Tensor) -> torch.Tensor:
    """The reference forward: encode_image, then the head (which normalises)."""
    return classifier.classification_head(classifier.image_encoder(images))


def save_raw_pickle(classifier: ImageClassifier, path: Path) -> Path:
    """utils.torch_save: ``pickle.dump(classifier.cpu(), f)`` (protocol 4, Python's default)."""
    with reference_module_paths(), open(path, "wb") as handle:
        pickle.dump(classifier.cpu(), handle, protocol=4)
    return path


def save_torch_model(classifier: ImageClassifier, path: Path) -> Path:
    """``torch.save(model)``: the same objects in torch's zip format."""
    with reference_module_paths():
        torch.save(classifier, path)
    return path


def visual_openclip_layout(classifier: ImageClassifier) -> dict[str, torch.Tensor]:
    """The classifier's keys as a full CLIP state dict would have them (``visual.*``)."""
    return {k.replace("image_encoder.model.", ""): v for k, v in classifier.state_dict().items()}
