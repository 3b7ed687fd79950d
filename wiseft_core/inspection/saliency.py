"""Where theta(alpha) looks: class-activation maps of the interpolated model, at any alpha.

The maps come from the ``grad-cam`` package (pytorch-grad-cam) run on the engine's live model, so
what is explained is exactly the network the slider shows (method: see ``METHODS``). Which layer is explained:

- ModifiedResNet (open_clip's RN family): the deepest stage whose feature map still has at least
  ``MIN_GRID`` cells per side. For RN50 at 224 px that is the last stage (7x7); the demo world's 32-px
  tower ends in a 1x1 map, which cannot say *where*, so its maps come from an earlier stage.
- ViT: the tokens entering the last residual block (its ``ln_1``), patch tokens reshaped to the patch
  grid. Not the block's output: with class-token pooling the prediction depends on the last block's
  patch *outputs* not at all, so their gradients are zero; the last block's attention is where the
  patches still reach the class token.

The live model's weights never need gradients: the input does, which is enough for activation
gradients and leaves a shared engine's parameters untouched. Maps are mapped back through the
preprocessing (resize + centre crop) so peaks are in the user's image pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from wiseft_core.engine.interpolation import WeightInterpolator
from wiseft_core.errors import WiseftError
from wiseft_core.files.models import Preprocessing
from wiseft_core.serve.jobs import CancelToken, cancellable

MIN_GRID = 4
RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")
OVERLAY_MIN_SIDE = 160  # small images (the demo's 32 px) are enlarged so an overlay is readable
# Grad-CAM variants of the grad-cam package. The default keeps each location's own evidence, ReLU(grad *
# activation) summed over channels: on a model whose answer is one image corner it points at that corner
# (tests/test_saliency.py) where plain Grad-CAM, which averages gradients over the map first, does not.
METHODS = {"elementwise": "GradCAMElementWise", "gradcam": "GradCAM", "hirescam": "HiResCAM"}
DEFAULT_METHOD = "elementwise"


@dataclass(frozen=True)
class TargetLayer:
    """The module whose activations are explained, its name, and how its output becomes [N, C, h, w]."""

    name: str
    module: nn.Module
    reshape: Callable[[torch.Tensor], torch.Tensor] | None
    grid: tuple[int, int]


@dataclass
class Explanation:
    """One image at one alpha: the prediction, the class explained and its map in image pixels."""

    alpha: float
    predicted: int
    probability: float  # of the predicted class
    target: int  # the class the map explains (the prediction unless one was chosen)
    target_probability: float
    cam: np.ndarray  # [H, W] in [0, 1] over the original image; 0 outside what the model saw
    peak: tuple[int, int] | None  # (x, y) in image pixels; None when the map is empty (no positive evidence)

    def to_dict(self, classnames: Sequence[str] | None = None) -> dict:
        out = {"alpha": self.alpha, "predicted": self.predicted, "probability": round(self.probability, 6),
               "target": self.target, "target_probability": round(self.target_probability, 6),
               "peak": None if self.peak is None else {"x": self.peak[0], "y": self.peak[1]}}
        if classnames is not None:
            out["predicted_class"] = classnames[self.predicted]
            out["target_class"] = classnames[self.target]
        return out


def _tower(model: nn.Module) -> nn.Module:
    return getattr(model, "image_encoder", model)


def _probe_shapes(model: nn.Module, modules: dict[str, nn.Module], image_size: int) -> dict[str, tuple]:
    """Output shapes of ``modules`` for one blank input (cheap: one forward without gradients)."""
    shapes: dict[str, tuple] = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape)))
               for name, m in modules.items()]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def target_layer(model: nn.Module, image_size: int, layer: str | None = None) -> TargetLayer:
    """The layer to explain for an open_clip image tower (see the module docstring); ``layer`` overrides."""
    tower = _tower(model)
    if hasattr(tower, "layer4") and hasattr(tower, "attnpool"):  # ModifiedResNet
        stages = {name: getattr(tower, name) for name in RESNET_STAGES}
        if layer is not None and layer not in stages:
            raise WiseftError(f"--layer {layer!r}: a ResNet tower has {', '.join(RESNET_STAGES)}")
        shapes = _probe_shapes(model, stages, image_size)
        if layer is None:
            resolving = [n for n in RESNET_STAGES if min(shapes[n][2:]) >= MIN_GRID]
            layer = resolving[-1] if resolving else RESNET_STAGES[0]
        return TargetLayer(layer, stages[layer], None, tuple(shapes[layer][2:]))
    if hasattr(tower, "transformer") and hasattr(tower, "grid_size"):  # VisionTransformer
        blocks = tower.transformer.resblocks
        index = len(blocks) - 1
        if layer is not None:
            try:
                index = int(layer.removeprefix("block")) % len(blocks)
            except ValueError:
                raise WiseftError(f"--layer {layer!r}: a ViT tower has block0..block{len(blocks) - 1}") from None
        grid = tuple(int(g) for g in tower.grid_size)
        batch_first = getattr(tower.transformer, "batch_first", True)

        def reshape(tokens: torch.Tensor) -> torch.Tensor:
            if not batch_first:
                tokens = tokens.transpose(0, 1)
            patches = tokens[:, tokens.shape[1] - grid[0] * grid[1]:, :]  # drop the class (and register) tokens
            return patches.reshape(patches.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2)

        return TargetLayer(f"block{index}", blocks[index].ln_1, reshape, grid)
    raise WiseftError(f"cannot explain a {type(tower).__name__} image tower: saliency maps support open_clip's "
                      "ModifiedResNet and VisionTransformer towers")


def _view_geometry(width: int, height: int, prep: Preprocessing) -> tuple[float, float, float, float]:
    """(scale_x, scale_y, offset_x, offset_y): model-input u = scale * (x + 0.5) - offset - 0.5."""
    size = prep.image_size
    if prep.resize_mode == "squash":
        return size / width, size / height, 0.0, 0.0
    scale = size / (max(width, height) if prep.resize_mode == "longest" else min(width, height))
    return scale, scale, (width * scale - size) / 2, (height * scale - size) / 2


def to_image_pixels(cam: np.ndarray, width: int, height: int, prep: Preprocessing) -> np.ndarray:
    """A map over the model's input (S x S) resampled onto the original image (H x W); 0 where unseen."""
    import cv2

    sx, sy, ox, oy = _view_geometry(width, height, prep)
    inverse = np.array([[sx, 0.0, 0.5 * sx - ox - 0.5], [0.0, sy, 0.5 * sy - oy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(cam.astype(np.float32), inverse, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0.0)


def peak_of(cam: np.ndarray) -> tuple[int, int] | None:
    """(x, y) of the map's maximum (first in row-major order on ties); None for an all-zero map."""
    if not np.isfinite(cam).all() or float(cam.max()) <= 0.0:
        return None
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)


def class_activation_maps(model: nn.Module, batch: torch.Tensor, layer: TargetLayer,
                          targets: Sequence[int] | None = None, method: str = DEFAULT_METHOD,
                          ) -> tuple[np.ndarray, torch.Tensor]:
    """Grad-CAM maps [N, S, S] in [0, 1] over the model input, and the logits of that same forward."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method not in METHODS:
        raise WiseftError(f"unknown saliency method {method!r}; expected one of {', '.join(METHODS)}")
    cam = getattr(pytorch_grad_cam, METHODS[method])(model=model, target_layers=[layer.module],
                                                     reshape_transform=layer.reshape)
    try:
        with torch.enable_grad():
            inputs = batch.detach().clone().requires_grad_(True)
            chosen = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
            maps = cam(input_tensor=inputs, targets=chosen)
            logits = cam.outputs.detach().float()
    finally:  # not the context manager: its __exit__ swallows IndexError
        cam.activations_and_grads.release()
    return np.nan_to_num(maps.astype(np.float32)), logits


def _explain_at(model: nn.Module, batch: torch.Tensor, images: Sequence[Image.Image], preprocessing: Preprocessing,
                alpha: float, target: int | None, layer: str | None, method: str) -> list[Explanation]:
    """One batch's maps at one alpha, on ``model`` whose weights are already theta(alpha)."""
    chosen_layer = target_layer(model, preprocessing.image_size, layer)
    targets = None if target is None else [target] * len(images)
    maps, logits = class_activation_maps(model, batch, chosen_layer, targets, method)
    probs = logits.softmax(dim=-1).cpu()
    out = []
    for i, image in enumerate(images):
        predicted = int(probs[i].argmax())
        explained = predicted if target is None else int(target)
        cam = to_image_pixels(maps[i], image.width, image.height, preprocessing)
        out.append(Explanation(float(alpha), predicted, float(probs[i, predicted]), explained,
                               float(probs[i, explained]), cam, peak_of(cam)))
    return out


def explain(interpolator: WeightInterpolator, images: Sequence[Image.Image], preprocessing: Preprocessing,
            alphas: Sequence[float], target: int | None = None, layer: str | None = None,
            method: str = DEFAULT_METHOD) -> list[list[Explanation]]:
    """Maps of theta(alpha) for every image (outer list) and alpha (inner list), one batch per alpha.

    The class explained is each image's prediction at that alpha, or ``target`` for all. The
    interpolator is left at the alpha (and per-block alphas) it had.
    """
    if not images:
        return []
    previous = (interpolator.alpha, interpolator.block_alphas)

    @contextmanager
    def at(alpha: float) -> Iterator[WeightInterpolator]:
        interpolator.set_alpha(alpha)
        yield interpolator

    try:
        return explain_along(at, images, preprocessing, alphas, target, layer, method)
    finally:
        if previous[0] is not None:
            interpolator.set_alpha(previous[0], previous[1])


def explain_along(live: Callable[[float], AbstractContextManager[WeightInterpolator]], images: Sequence[Image.Image],
                  preprocessing: Preprocessing, alphas: Sequence[float], target: int | None = None,
                  layer: str | None = None, method: str = DEFAULT_METHOD, cancel: CancelToken | None = None,
                  ) -> list[list[Explanation]]:
    """:func:`explain` on models lent per alpha by ``live`` (e.g. a shared pool's ``at``), stoppable by ``cancel``.

    The model is held for one alpha's batch only, so viewers sharing the pool wait one batch at most.
    """
    from wiseft_core.engine.predict import to_batch

    if not images:
        return []
    out: list[list[Explanation]] = [[] for _ in images]
    batch = None
    for alpha in alphas:
        if cancel is not None:
            cancel.check()
        with live(alpha) as interpolator, cancellable(interpolator.model, cancel):
            batch = to_batch(images, preprocessing, interpolator.endpoints.device) if batch is None else batch
            explained = _explain_at(interpolator.model, batch, images, preprocessing, alpha, target, layer, method)
        for i, e in enumerate(explained):
            out[i].append(e)
    return out


def overlay(image: Image.Image, explanation: Explanation, min_side: int = OVERLAY_MIN_SIDE,
            image_weight: float = 0.55) -> Image.Image:
    """The map as a heat overlay on the image (enlarged when small), the peak marked with a ring."""
    import cv2
    from pytorch_grad_cam.utils.image import show_cam_on_image

    scale = max(1, int(np.ceil(min_side / min(image.width, image.height))))
    size = (image.width * scale, image.height * scale)
    base = np.asarray(image.convert("RGB").resize(size, Image.NEAREST), dtype=np.float32) / 255.0
    cam = cv2.resize(explanation.cam, size, interpolation=cv2.INTER_LINEAR)
    picture = Image.fromarray(show_cam_on_image(base, np.clip(cam, 0, 1), use_rgb=True, image_weight=image_weight))
    if explanation.peak is not None:
        x, y = ((c + 0.5) * scale for c in explanation.peak)
        r = max(3, scale * 1.5)
        draw = ImageDraw.Draw(picture)
        draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], outline=(0, 0, 0), width=2)
        draw.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=2)
    return picture


def pointing_hits(peaks: Sequence[tuple[int, int] | None], masks: Sequence[np.ndarray]) -> np.ndarray:
    """The pointing game: does each peak fall on its object's mask? An empty map never hits."""
    hits = np.zeros(len(peaks), dtype=bool)
    for i, (peak, mask) in enumerate(zip(peaks, masks, strict=True)):
        if peak is not None:
            x, y = peak
            hits[i] = bool(mask[y, x] > 0.5)
    return hits
