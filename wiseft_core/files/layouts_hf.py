"""Hugging Face ``transformers`` CLIP checkpoints, read as ours without transformers and without running code.

``CLIPModel``, ``CLIPVisionModelWithProjection`` (safetensors or pytorch_model.bin, with the config.json
saved beside them) map exactly onto open_clip's ViT: HF's q/k/v projections are the thirds of
``in_proj_weight``, ``pre_layrnorm``/``post_layernorm`` are ``ln_pre``/``ln_post``, ``visual_projection``
is ``proj`` transposed, and ``hidden_act`` ``quick_gelu`` (OpenAI's checkpoints) is open_clip's QuickGELU.
The head: from the text tower when the file has one (the class names through CLIP's 80 ImageNet
templates, recorded, with open_clip's tokenizer: the same BPE as OpenAI's, pooled at the same EOS
token); a tower-only file takes the zero-shot side's head as the fine-tuned side of a pair.

Refused, with the reason: ``CLIPForImageClassification`` (its classifier reads the mean of the patch
tokens before ``post_layernorm``, unprojected and unnormalised: not CLIP's feature, so no head shared with
a zero-shot CLIP exists in weight space) and timm's CLIP fine-tunes (the head sits on the
pre-projection token, without CLIP's projection and normalisation).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import open_clip
import torch
from torch import nn

from wiseft_core.errors import WiseftError

CONFIG_NAME = "config.json"
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
MAX_CONFIG_BYTES = 1 << 20
MAX_CONTEXT = 1024  # text positions (OpenAI CLIP: 77; long-context CLIPs a few hundred)
SOURCE = "Hugging Face transformers"
ACT = {"quick_gelu": True, "gelu": False}
OPENAI_VOCAB, OPENAI_EOS = 49408, 49407  # open_clip's tokenizer is OpenAI's BPE; EOS is its highest id
_LAYER = re.compile(r"(vision|text)_model\.encoder\.layers\.(\d+)\.(.+)")
_RENAMES = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
            "self_attn.out_proj": "attn.out_proj"}


def is_hf_clip(raw) -> bool:
    return any(k.startswith("vision_model.embeddings.") for k in raw)


def refuse_timm(raw, label: str) -> None:
    """timm's ``vit_*_clip_*_ft_in1k``: recognised by its keys, refused with the reason."""
    if "patch_embed.proj.weight" in raw and any(k.startswith("blocks.0.attn.qkv") for k in raw):
        raise WiseftError(
            f"{label} is a timm ViT (patch_embed/blocks keys, e.g. vit_*_clip_*.openai_ft_in1k): its head reads the "
            "pre-projection token without CLIP's projection and L2 normalisation, so no zero-shot CLIP head lives "
            "in its weight space; not supported (see docs/real_checkpoints.md)")


def weights_in_folder(folder: Path, label: str) -> Path:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    if any(folder.glob("*.index.json")):
        raise WiseftError(f"{label} holds a sharded checkpoint (*.index.json), which is not read: save it as one file "
                          "(save_pretrained(..., max_shard_size='20GB')) or convert it")
    raise WiseftError(f"{label} is a folder without {' or '.join(WEIGHT_NAMES)} (a Hugging Face model folder "
                      "holds config.json and one of them)")


def read_config(weights: Path, label: str) -> dict:
    """The config.json saved beside the weights (size-limited; only plain JSON is read)."""
    path = weights.parent / CONFIG_NAME
    if not path.is_file():
        raise WiseftError(f"{label} is a Hugging Face CLIP state dict without its {CONFIG_NAME}; keep the file in "
                          f"its model folder (config.json beside it) or pass the folder")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise WiseftError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MiB; not a model config")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise WiseftError(f"{path} is not valid JSON ({str(err)[:80]})") from None
    if not isinstance(config, dict):
        raise WiseftError(f"{path} is not a JSON object")
    return config


def _sub_config(config: dict, name: str) -> dict:
    sub = config.get(f"{name}_config", config)
    return sub if isinstance(sub, dict) else {}


def _activation(vision: dict, label: str, where: str) -> bool:
    act = vision.get("hidden_act", "quick_gelu")
    if act not in ACT:
        raise WiseftError(f"{label}: {where} hidden_act {act!r} is neither quick_gelu nor gelu")
    eps = vision.get("layer_norm_eps", 1e-5)
    if eps != 1e-5:
        raise WiseftError(f"{label}: {where} layer_norm_eps {eps} differs from open_clip's 1e-5")
    return ACT[act]


def _blocks(raw: dict, tower: str, out_prefix: str) -> dict[str, torch.Tensor]:
    """One tower's encoder layers in open_clip's names (q, k, v concatenated into in_proj)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in raw.items():
        match = _LAYER.fullmatch(key)
        if not match or match.group(1) != tower:
            continue
        index, rest = match.group(2), match.group(3)
        proj = re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", rest)
        if proj:
            qkv.setdefault((index, proj.group(2)), {})[proj.group(1)] = value
            continue
        for old, new in _RENAMES.items():
            if rest.startswith(old + "."):
                rest = new + rest[len(old):]
        out[f"{out_prefix}transformer.resblocks.{index}.{rest}"] = value
    for (index, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"} or len({tuple(t.shape) for t in parts.values()}) != 1:
            raise WiseftError(f"layer {index} of the {tower} tower: q/k/v_proj.{kind} missing or of different "
                              f"shapes ({ {k: tuple(t.shape) for k, t in parts.items()} })")
        out[f"{out_prefix}transformer.resblocks.{index}.attn.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]])
    return out


def vision_tensors(raw: dict, label: str) -> dict[str, torch.Tensor]:
    """HF's vision tower (+ ``visual_projection``) as open_clip's ``VisionTransformer`` state dict."""
    if "visual_projection.weight" not in raw:
        raise WiseftError(f"{label}: a Hugging Face CLIP vision tower without visual_projection "
                          "(CLIPVisionModel or CLIPForImageClassification) is not CLIP's image feature")
    names = {"embeddings.class_embedding": "class_embedding", "embeddings.patch_embedding.weight": "conv1.weight",
             "embeddings.position_embedding.weight": "positional_embedding", "pre_layrnorm.weight": "ln_pre.weight",
             "pre_layrnorm.bias": "ln_pre.bias", "post_layernorm.weight": "ln_post.weight",
             "post_layernorm.bias": "ln_post.bias"}
    try:
        out = {new: raw[f"vision_model.{old}"] for old, new in names.items()}
    except KeyError as err:
        raise WiseftError(f"{label}: incomplete Hugging Face CLIP vision tower (missing {err})") from None
    out["proj"] = raw["visual_projection.weight"].T
    out.update(_blocks(raw, "vision", ""))
    return out


def text_tensors(raw: dict, label: str) -> dict[str, torch.Tensor]:
    """HF's text tower as open_clip ``CLIP``'s text keys (for the zero-shot head)."""
    names = {"text_model.embeddings.token_embedding.weight": "token_embedding.weight",
             "text_model.embeddings.position_embedding.weight": "positional_embedding",
             "text_model.final_layer_norm.weight": "ln_final.weight",
             "text_model.final_layer_norm.bias": "ln_final.bias", "logit_scale": "logit_scale"}
    try:
        out = {new: raw[old] for old, new in names.items()}
        out["text_projection"] = raw["text_projection.weight"].T
    except KeyError as err:
        raise WiseftError(f"{label}: incomplete Hugging Face CLIP text tower (missing {err})") from None
    out.update(_blocks(raw, "text", ""))
    return out


def _count_layers(raw: dict, tower: str) -> int:
    return len({m.group(2) for k in raw if (m := _LAYER.fullmatch(k)) and m.group(1) == tower})


def open_clip_config(raw: dict, config: dict, label: str, with_text: bool) -> dict:
    """open_clip's model config from the tensors' shapes (authoritative) and config.json (heads, activation)."""
    vision = _sub_config(config, "vision")
    quick = _activation(vision, label, "vision_config")
    width = int(raw["vision_model.embeddings.class_embedding"].shape[0])
    patch = int(raw["vision_model.embeddings.patch_embedding.weight"].shape[-1])
    positions = int(raw["vision_model.embeddings.position_embedding.weight"].shape[0])
    grid = round((positions - 1) ** 0.5)
    if grid * grid + 1 != positions:
        raise WiseftError(f"{label}: position embedding of {positions} is not a square grid plus one")
    heads = vision.get("num_attention_heads")
    if not isinstance(heads, int) or heads < 1 or width % heads:
        raise WiseftError(f"{label}: config.json num_attention_heads {heads!r} does not divide the width {width}")
    mlp = int(raw["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0])
    vision_cfg = {"image_size": grid * patch, "layers": _count_layers(raw, "vision"), "width": width,
                  "patch_size": patch, "head_width": width // heads}
    if mlp != 4 * width:
        vision_cfg["mlp_ratio"] = mlp / width
    out = {"embed_dim": int(raw["visual_projection.weight"].shape[0]), "quick_gelu": quick, "vision_cfg": vision_cfg}
    if with_text:
        out["text_cfg"] = _text_cfg(raw, _sub_config(config, "text"), quick, label)
    return out


def _text_cfg(raw: dict, text: dict, quick: bool, label: str) -> dict:
    if _activation(text, label, "text_config") != quick:
        raise WiseftError(f"{label}: the text and vision towers use different activations; open_clip cannot build it")
    vocab, width = raw["text_model.embeddings.token_embedding.weight"].shape
    heads = text.get("num_attention_heads")
    if vocab != OPENAI_VOCAB or text.get("eos_token_id", OPENAI_EOS) not in (2, OPENAI_EOS):
        raise WiseftError(f"{label}: its text tower's vocabulary ({vocab} tokens, eos {text.get('eos_token_id')}) is "
                          "not OpenAI CLIP's, which the zero-shot head's tokenizer needs")
    if not isinstance(heads, int) or heads < 1 or width % heads:
        raise WiseftError(f"{label}: text_config num_attention_heads {heads!r} does not divide the width {width}")
    context = int(raw["text_model.embeddings.position_embedding.weight"].shape[0])
    if not 2 <= context <= MAX_CONTEXT:  # the causal mask is context x context: bounded before anything is built
        raise WiseftError(f"{label}: text context length {context} is outside [2, {MAX_CONTEXT}]")
    return {"context_length": context,
            "vocab_size": int(vocab), "width": int(width), "heads": heads, "layers": _count_layers(raw, "text"),
            "mlp_ratio": raw["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0] / width}


def preprocessing_of(folder: Path, image_size: int):
    """preprocessor_config.json's mean/std/resample when present, else OpenAI CLIP's (HF's defaults too)."""
    from wiseft_core.files.models import Preprocessing

    path = folder / "preprocessor_config.json"
    found: dict = {}
    if path.is_file() and path.stat().st_size < MAX_CONFIG_BYTES:
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            found = {}
    try:
        return Preprocessing(image_size, tuple(found.get("image_mean")), tuple(found.get("image_std")),
                             "bilinear" if found.get("resample") == 2 else "bicubic")
    except (TypeError, WiseftError):
        return Preprocessing(image_size, tuple(open_clip.OPENAI_DATASET_MEAN), tuple(open_clip.OPENAI_DATASET_STD))


def _architecture(config: dict) -> str:
    names = config.get("architectures")
    return names[0] if isinstance(names, list) and names and isinstance(names[0], str) else "CLIP"


def read_hf_clip(raw: dict, weights: Path, label: str, like, classnames):
    """``(tensors, meta)`` of a HF CLIP file: the head from its text tower, else the zero-shot side's head."""
    from wiseft_core.files.checkpoints import LoadedClassifier

    config = read_config(weights, label)
    arch = _architecture(config)
    if "classifier.weight" in raw or arch == "CLIPForImageClassification":
        raise WiseftError(
            f"{label} is a CLIPForImageClassification: its classifier reads the mean of the patch tokens before "
            "post_layernorm, without CLIP's projection and normalisation, so it shares no head with a zero-shot "
            "CLIP and WiSE-FT has no pair to mix; not supported (see docs/real_checkpoints.md)")
    with_text = "text_model.embeddings.token_embedding.weight" in raw
    try:
        model_config = open_clip_config(raw, config, label, with_text)
        tensors = {f"image_encoder.{k}": v for k, v in vision_tensors(raw, label).items()}
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as err:  # shapes and keys come from the file
        raise WiseftError(f"{label}: not a complete Hugging Face CLIP ({type(err).__name__}: "
                          f"{str(err).splitlines()[0][:120] if str(err) else ''})") from None
    like_meta = like.meta if isinstance(like, LoadedClassifier) else like
    if like_meta is not None and model_config["quick_gelu"] != like_meta.quick_gelu:
        raise WiseftError(f"{label} uses {'QuickGELU' if model_config['quick_gelu'] else 'GELU'} but the zero-shot "
                          "side does not; a pair must share its activation")
    source = f"{SOURCE} ({arch})"
    if with_text:
        names = like_meta.classnames if like_meta is not None else classnames
        templates = _templates_of(like_meta)
        head, meta = _text_head(raw, model_config, label, names, templates, weights.parent, source)
        tensors.update(head)
        return tensors, meta
    if like is None or not isinstance(like, LoadedClassifier):
        raise WiseftError(f"{label} is a {arch} without a text tower or a head: load it as the fine-tuned side of "
                          "a pair; it then uses the zero-shot side's head (as when fine-tuning with a frozen head)")
    tensors.update({f"head.{k}": v for k, v in like.model.head.state_dict().items()})
    return tensors, replace(like_meta, extra={**like_meta.extra, "imported_from": source,
                                              "head": "the zero-shot side's (the file has no head)"})


def _templates_of(like_meta) -> str | list[str]:
    """The zero-shot side's prompts (a named set or its own list), else CLIP's 80: never a path from a file."""
    from wiseft_core.files.zeroshot import template_set_name

    templates = like_meta.templates if like_meta is not None else None
    if isinstance(templates, str) and template_set_name(templates):
        return template_set_name(templates)
    if isinstance(templates, list) and templates and all("{}" in t for t in templates):
        return list(templates)
    return "openai"


def _text_head(raw: dict, model_config: dict, label: str, classnames, templates, folder: Path, source: str):
    """The zero-shot head from the file's own text tower, built by our one zero-shot path."""
    from wiseft_core.files.wiseft_import import resolve_classnames
    from wiseft_core.files.zeroshot import build_zeroshot_checkpoint

    if classnames is None:
        raise WiseftError(f"{label} has a text tower but no class names: pass --classnames imagenet|FILE or put a "
                          "classnames.txt beside it (its zero-shot head is built from them)")
    if isinstance(classnames, str):
        from wiseft_core.files.zeroshot import load_classnames

        classnames = load_classnames(classnames)
    classnames = resolve_classnames(list(classnames), len(classnames), label)
    clip_model = _open_clip_model(raw, model_config, label)
    preprocessing = preprocessing_of(folder, model_config["vision_cfg"]["image_size"])
    name, tower_config = tower_name(model_config)
    built = build_zeroshot_checkpoint(
        name, classnames, templates, clip=(clip_model, model_config, preprocessing),
        tokenizer=open_clip.SimpleTokenizer(context_length=model_config["text_cfg"]["context_length"]),
        extra={"imported_from": source, "head": "zero-shot, from the file's text tower (open_clip tokenizer)"})
    meta = built.meta
    meta.model_name, meta.model_config = name, tower_config
    tensors = {f"head.{k}": v for k, v in built.classifier.head.state_dict().items()}
    return tensors, meta


def tower_name(model_config: dict) -> tuple[str, dict]:
    """OpenAI's name and open_clip's config when the tower is one of theirs (ViT-B-32-quickgelu), else our own."""
    from wiseft_core.files.wiseft_import import _model_name

    tower = {k: v for k, v in model_config.items() if k != "text_cfg"}
    vision = tower["vision_cfg"]
    name = _model_name(tower)
    if name.startswith("openai-clip-"):
        name = (f"hf-clip-vit-l{vision['layers']}-p{vision['patch_size']}-w{vision['width']}-r{vision['image_size']}"
                f"-h{vision['head_width']}-e{tower['embed_dim']}" + ("" if tower["quick_gelu"] else "-gelu")
                + (f"-m{vision['mlp_ratio']:g}" if "mlp_ratio" in vision else ""))
        return name, tower
    return name, {**open_clip.get_model_config(name), "quick_gelu": tower["quick_gelu"]}


def _open_clip_model(raw: dict, model_config: dict, label: str) -> nn.Module:
    """open_clip's CLIP with the file's weights (both towers), checked key for key and shape for shape."""
    from wiseft_core.files.checkpoints import describe_mismatch
    from wiseft_core.files.models import validate_model_config

    validate_model_config(model_config)
    state = {f"visual.{k}": v for k, v in vision_tensors(raw, label).items()}
    state.update(text_tensors(raw, label))
    with torch.device("meta"):
        expected = open_clip.model.CLIP(**model_config).state_dict()
    if set(expected) != set(state) or any(expected[k].shape != state[k].shape for k in expected):
        raise WiseftError(f"{label} does not match the CLIP its config describes: "
                          + describe_mismatch(expected, state))
    model = open_clip.model.CLIP(**model_config)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()


__all__ = ["is_hf_clip", "read_hf_clip", "refuse_timm", "weights_in_folder"]
