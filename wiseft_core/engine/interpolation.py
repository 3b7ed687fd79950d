"""The interpolation engine: theta(alpha) = (1 - alpha) * theta0 + alpha * theta1.

One implementation serves the app's slider, the CLI and the sweeps. `WeightEndpoints` keeps
theta0/theta1 in flat contiguous buffers (one per dtype) that are shared and never written after
construction; each `WeightInterpolator` owns one output buffer of the same size and makes its live
model's parameters views of it, so `set_alpha` is a single fused `torch.lerp` pass per buffer and
allocates nothing. `torch.lerp` returns theta0 exactly at alpha=0 and theta1 exactly at alpha=1.

Non-floating tensors must be identical in both endpoints, except BatchNorm's integer
`num_batches_tracked` counters (fine-tuning in train mode changes them): those take the value of
the nearer endpoint (theta0 for alpha < 0.5, else theta1), which keeps both endpoints exact.

Extrapolation (alpha < 0 or > 1) is allowed for teaching; there BatchNorm `running_var` can go
negative (NaN outputs), so variances are clamped at 0 whenever an alpha lies outside [0, 1].
Inside [0, 1] a variance is a convex combination of non-negative values and nothing is clamped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wiseft_core.engine.blocks import BlockAlphas, alpha_for, block_name, block_rank, check_patterns_match
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import describe_mismatch

COUNTER_SUFFIXES = ("num_batches_tracked",)
VARIANCE_SUFFIXES = ("running_var",)


def _extrapolates(alpha: float, block_alphas: BlockAlphas) -> bool:
    return any(not 0.0 <= a <= 1.0 for a in [alpha, *(float(v) for _, v in block_alphas)])


def _is_counter(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


# ---------------------------------------------------------------------------- the per-tensor rule
# Both paths use these three functions: the pure ``interpolate_state_dicts`` tensor by tensor, the
# fused ``WeightInterpolator.set_alpha`` on contiguous runs of tensors (a run only ever holds
# tensors with one alpha, so lerping the run is lerping each of them).

def mix_floats(t0: torch.Tensor, t1: torch.Tensor, alpha: float, variance: bool = False,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """``lerp`` (exact at 0 and 1); a variance is clamped at 0 when alpha extrapolates, never inside [0, 1]."""
    t1 = t1.to(t0.dtype)
    mixed = torch.lerp(t0, t1, alpha) if out is None else torch.lerp(t0, t1, alpha, out=out)
    if variance and not 0.0 <= alpha <= 1.0:
        mixed.clamp_(min=0.0)
    return mixed


def mix_fixed(t0: torch.Tensor, t1: torch.Tensor, alpha: float) -> torch.Tensor:
    """A non-floating tensor (equal in both endpoints, or a BatchNorm counter): the nearer endpoint's value."""
    return t0 if alpha < 0.5 else t1


def mix_tensor(name: str, t0: torch.Tensor, t1: torch.Tensor, alpha: float) -> torch.Tensor:
    """One tensor of theta(alpha), as a new tensor."""
    if t0.is_floating_point():
        return mix_floats(t0, t1.to(t0.device), alpha, variance=name.endswith(VARIANCE_SUFFIXES))
    return mix_fixed(t0, t1.to(t0.device), alpha).clone()


def check_compatible(theta0: dict[str, torch.Tensor], theta1: dict[str, torch.Tensor]) -> None:
    """Same keys, shapes and float-ness; equal non-float tensors (counters excepted). Else a WiseftError."""
    if set(theta0) != set(theta1) or any(theta0[k].shape != theta1[k].shape for k in theta0):
        raise WiseftError("the two checkpoints have different architectures: " + describe_mismatch(theta0, theta1))
    for key in theta0:
        a, b = theta0[key], theta1[key]
        if a.is_floating_point() != b.is_floating_point():
            raise WiseftError(f"{key}: {a.dtype} in one checkpoint and {b.dtype} in the other")
        if not a.is_floating_point() and not _is_counter(key) and not torch.equal(a.cpu(), b.cpu()):
            raise WiseftError(f"{key}: non-floating tensor differs between the checkpoints (cannot interpolate)")


def interpolate_state_dicts(
    theta0: dict[str, torch.Tensor],
    theta1: dict[str, torch.Tensor],
    alpha: float,
    block_alphas: BlockAlphas = (),
) -> dict[str, torch.Tensor]:
    """Pure function: a new state dict at ``alpha`` (per-block overrides allowed). Used for saving merges."""
    check_compatible(theta0, theta1)
    check_patterns_match(list(theta0), block_alphas)
    return {key: mix_tensor(key, t0, theta1[key], alpha_for(key, alpha, block_alphas)) for key, t0 in theta0.items()}


def ensemble_outputs(logits0: torch.Tensor, logits1: torch.Tensor, alpha: float) -> torch.Tensor:
    """Output-space ensemble (mix the endpoints' logits): costs two forward passes instead of one."""
    return torch.lerp(logits0, logits1.to(logits0.dtype), alpha)


@dataclass(frozen=True)
class Segment:
    """Where one floating tensor lives inside its dtype's flat buffer."""

    name: str
    dtype: torch.dtype
    offset: int
    numel: int
    shape: tuple[int, ...]


class WeightEndpoints:
    """theta0 and theta1 as flat buffers on one device; read-only once built, safe to share."""

    def __init__(self, theta0: dict[str, torch.Tensor], theta1: dict[str, torch.Tensor],
                 device: str | torch.device | None = None):
        check_compatible(theta0, theta1)
        self.device = torch.device(device) if device is not None else next(iter(theta0.values())).device
        self.names = list(theta0)
        floats = [k for k in self.names if theta0[k].is_floating_point()]
        # Block order keeps each block contiguous, so a per-block alpha is one lerp per block.
        floats.sort(key=lambda k: block_rank(block_name(k)))
        self.segments: list[Segment] = []
        self.flat0: dict[torch.dtype, torch.Tensor] = {}
        self.flat1: dict[torch.dtype, torch.Tensor] = {}
        for dtype in dict.fromkeys(theta0[k].dtype for k in floats):
            names = [k for k in floats if theta0[k].dtype == dtype]
            offset = 0
            for key in names:
                n = theta0[key].numel()
                self.segments.append(Segment(key, dtype, offset, n, tuple(theta0[key].shape)))
                offset += n
            with torch.no_grad():
                self.flat0[dtype] = torch.cat([theta0[k].reshape(-1) for k in names]).to(self.device)
                self.flat1[dtype] = torch.cat([theta1[k].reshape(-1).to(dtype) for k in names]).to(self.device)
        self.fixed = {k: (theta0[k].to(self.device), theta1[k].to(self.device))
                      for k in self.names if not theta0[k].is_floating_point()}
        self._runs_cache: dict[tuple, list[tuple[torch.dtype, int, int, float]]] = {}
        self.variance_segments = [seg for seg in self.segments if seg.name.endswith(VARIANCE_SUFFIXES)]

    @property
    def numel(self) -> int:
        return sum(t.numel() for t in self.flat0.values())

    def view(self, side: int, name: str) -> torch.Tensor:
        """A read-only-by-convention view of one endpoint tensor (no copy)."""
        seg = next(s for s in self.segments if s.name == name)
        flat = (self.flat0 if side == 0 else self.flat1)[seg.dtype]
        return flat[seg.offset:seg.offset + seg.numel].view(seg.shape)

    def runs(self, alpha: float, block_alphas: BlockAlphas = ()) -> list[tuple[torch.dtype, int, int, float]]:
        """Maximal contiguous ranges sharing one alpha: one range per buffer when alpha is global."""
        key = (float(alpha), tuple((p, float(a)) for p, a in block_alphas))
        cached = self._runs_cache.get(key)
        if cached is not None:
            return cached
        if block_alphas:
            check_patterns_match(self.names, block_alphas)
        runs: list[tuple[torch.dtype, int, int, float]] = []
        for seg in self.segments:
            a = alpha_for(seg.name, alpha, block_alphas) if block_alphas else float(alpha)
            last = runs[-1] if runs else None
            if last and last[0] == seg.dtype and last[2] == seg.offset and last[3] == a:
                runs[-1] = (last[0], last[1], seg.offset + seg.numel, a)
            else:
                runs.append((seg.dtype, seg.offset, seg.offset + seg.numel, a))
        if len(self._runs_cache) > 256:
            self._runs_cache.clear()
        self._runs_cache[key] = runs
        return runs

    def bind(self, model: nn.Module, side: int) -> nn.Module:
        """Make ``model``'s tensors views of endpoint ``side`` (saves a full copy of the weights)."""
        flats = self.flat0 if side == 0 else self.flat1
        _bind(model, self.segments, flats, {k: v[side] for k, v in self.fixed.items()})
        return model


def _bind(model: nn.Module, segments: list[Segment], flats: dict[torch.dtype, torch.Tensor],
          fixed: dict[str, torch.Tensor]) -> None:
    expected = set(model.state_dict())
    names = {s.name for s in segments} | set(fixed)
    if expected != names:
        raise WiseftError("the live model does not match the endpoints: "
                          + describe_mismatch({k: torch.empty(0) for k in names},
                                              {k: torch.empty(0) for k in expected}))
    with torch.no_grad():
        for seg in segments:
            view = flats[seg.dtype][seg.offset:seg.offset + seg.numel].view(seg.shape)
            _set_tensor(model, seg.name, view)
        for name, value in fixed.items():
            _set_tensor(model, name, value.clone())


def _set_tensor(model: nn.Module, name: str, value: torch.Tensor) -> None:
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if attr in module._parameters and module._parameters[attr] is not None:
        module._parameters[attr] = nn.Parameter(value, requires_grad=False)  # also replaces a meta parameter
    else:
        module._buffers[attr] = value


def _materialize_rest(model: nn.Module, like: nn.Module | None) -> None:
    """Tensors outside the state dict (non-persistent buffers) of a model built on the meta device.

    They are constants of the architecture, so they are copied from ``like`` (an endpoint model).
    """
    meta = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()] if tensor.is_meta]
    if not meta:
        return
    if like is None:
        raise WiseftError(f"the live model has tensors outside its state dict ({meta[0]}, …) and no model to copy "
                          "them from")
    reference = dict([*like.named_parameters(), *like.named_buffers()])
    for name in meta:
        _set_tensor(model, name, reference[name].detach().clone())


class WeightInterpolator:
    """A live model whose weights are theta(alpha); one per viewer/session, endpoints shared.

    ``model`` may be built on the meta device (``build_classifier(meta, "meta")``): its weights are
    rebound into the engine's own buffer, so a new live model never allocates (and initialises) a
    throw-away copy first; ``like`` supplies any tensor outside the state dict.
    """

    def __init__(self, endpoints: WeightEndpoints, model: nn.Module, like: nn.Module | None = None):
        self.endpoints = endpoints
        self.out = {dtype: torch.empty_like(flat) for dtype, flat in endpoints.flat0.items()}
        model = model.eval().requires_grad_(False)
        _bind(model, endpoints.segments, self.out, {k: v[0] for k, v in endpoints.fixed.items()})
        _materialize_rest(model, like)
        self.model = model.to(endpoints.device)
        self.alpha: float | None = None
        self.block_alphas: tuple = ()
        self.set_alpha(0.0)

    def is_at(self, alpha: float, block_alphas: BlockAlphas = ()) -> bool:
        """Whether the live weights are theta(alpha) with these block alphas already (set_alpha would be a no-op)."""
        return self.alpha == float(alpha) and self.block_alphas == tuple(block_alphas)

    @torch.no_grad()
    def set_alpha(self, alpha: float, block_alphas: BlockAlphas = ()) -> None:
        """Rewrite the live weights in place: one fused lerp per contiguous run, no allocation."""
        ep = self.endpoints
        for dtype, start, end, a in ep.runs(alpha, block_alphas):
            mix_floats(ep.flat0[dtype][start:end], ep.flat1[dtype][start:end], a, out=self.out[dtype][start:end])
        if ep.variance_segments and _extrapolates(alpha, block_alphas):  # inside [0, 1] the rule clamps nothing
            for seg in ep.variance_segments:
                part = slice(seg.offset, seg.offset + seg.numel)
                a = alpha_for(seg.name, alpha, block_alphas)
                mix_floats(ep.flat0[seg.dtype][part], ep.flat1[seg.dtype][part], a, variance=True,
                           out=self.out[seg.dtype][part])
        for name, (t0, t1) in ep.fixed.items():
            if _is_counter(name):  # other fixed tensors are equal in both endpoints and bound once
                _get_tensor(self.model, name).copy_(mix_fixed(t0, t1, alpha_for(name, alpha, block_alphas)))
        self.alpha = float(alpha)
        self.block_alphas = tuple(block_alphas)


def _get_tensor(model: nn.Module, name: str) -> torch.Tensor:
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    return getattr(module, attr)
