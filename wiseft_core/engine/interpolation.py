"""The interpolation engine: theta(w) = sum_i w_i theta_i over N endpoints; WiSE-FT is the pair case.

WiSE-FT's theta(alpha) = (1 - alpha) theta0 + alpha theta1 is the weights (1 - alpha, alpha) over two
endpoints; a uniform soup of N fine-tunes is N equal weights. One implementation serves the app's slider, the
CLI, the sweeps and the soups. `WeightEndpoints` keeps the N endpoints in one stacked buffer per dtype
(``[N, numel]``, row i = theta_i, block-ordered) that is shared and never written after construction; each
`WeightInterpolator` owns one output buffer of one row's size and makes its live model's parameters views of
it, so `set_weights` (and `set_alpha`, its pair form) rewrites them in place and allocates nothing. Each
contiguous run of tensors sharing one weight vector takes the cheapest exact kernel: a copy when one weight is
1 (theta_i bit for bit at a vertex), one fused `torch.lerp` for two non-zero weights (the pair: exact at
alpha 0 and 1), else one GEMV ``w @ stack`` over the rows the weights touch.

Weights are affine (they sum to 1): inside the simplex the result is an average; a negative weight
extrapolates, which is allowed for teaching. There BatchNorm `running_var` can go negative (NaN outputs), so
variances are clamped at 0 whenever a weight is negative; inside the simplex nothing is clamped.

Non-floating tensors must be identical in every endpoint, except BatchNorm's integer `num_batches_tracked`
counters (fine-tuning in train mode changes them): those take the value of the endpoint with the largest
weight, ties going to the later one (for a pair: theta0 for alpha < 0.5, else theta1), which keeps every
vertex exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from wiseft_core.engine.blocks import BlockAlphas, alpha_for, block_name, block_rank, check_patterns_match
from wiseft_core.errors import WiseftError
from wiseft_core.files.checkpoints import describe_mismatch

COUNTER_SUFFIXES = ("num_batches_tracked",)
VARIANCE_SUFFIXES = ("running_var",)
AFFINE_TOLERANCE = 1e-6  # |sum(weights) - 1| allowed: float sums of 1/3s, not a different meaning

Weights = tuple[float, ...]
BlockWeights = Sequence[tuple[str, Sequence[float]]]


def _is_counter(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


def pair_weights(alpha: float) -> Weights:
    """WiSE-FT's alpha as weights over (theta0, theta1)."""
    return (1.0 - float(alpha), float(alpha))


def check_weights(weights: Sequence[float], count: int, label: str = "weights") -> Weights:
    """``count`` finite weights that sum to 1 (affine), as floats; else one clear WiseftError."""
    values = tuple(float(w) for w in weights)
    if len(values) != count:
        raise WiseftError(f"{label}: {len(values)} weight(s) for {count} endpoints")
    if not all(math.isfinite(w) for w in values):
        raise WiseftError(f"{label}: every weight must be a finite number, got {list(values)}")
    if abs(math.fsum(values) - 1.0) > AFFINE_TOLERANCE:
        raise WiseftError(f"{label} must sum to 1 (affine weights), got {list(values)} (sum {math.fsum(values):g})")
    return values


def _pair_block_weights(block_alphas: BlockAlphas) -> tuple[tuple[str, Weights], ...]:
    return tuple((pattern, pair_weights(a)) for pattern, a in block_alphas)


def weights_for(name: str, weights: Weights, block_weights: BlockWeights = ()) -> Weights:
    """The weights one tensor gets: the global ones unless a block pattern matches (the last match wins)."""
    index = int(alpha_for(name, -1.0, [(pattern, i) for i, (pattern, _) in enumerate(block_weights)]))
    return weights if index < 0 else tuple(block_weights[index][1])


# ---------------------------------------------------------------------------- the per-tensor rule
# Both paths use these functions: the pure ``mix_state_dicts`` tensor by tensor, the fused
# ``WeightInterpolator.set_weights`` on contiguous runs of tensors (a run only ever holds tensors with one
# weight vector, so mixing the run is mixing each of them).

def weighted_sum(rows: torch.Tensor, weights: Weights, out: torch.Tensor,
                 vector: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_i weights[i] * rows[i]`` into ``out`` (``rows``: [N, m]) with the cheapest exact kernel.

    One weight of 1: a copy (bit for bit). Two non-zero weights summing to 1: one fused lerp (exact at
    both ends). Otherwise one GEMV over the rows between the first and last non-zero weight; ``vector``
    (the weights as a tensor on ``rows``' device) saves building it per call.
    """
    support = [i for i, w in enumerate(weights) if w != 0.0]
    if len(support) == 1 and weights[support[0]] == 1.0:
        return out.copy_(rows[support[0]])
    if len(weights) == 2 or (len(support) == 2 and weights[support[0]] + weights[support[1]] == 1.0):
        i, j = support if len(support) == 2 else (0, 1)
        return torch.lerp(rows[i], rows[j], weights[j], out=out)
    if not support:
        return out.zero_()
    lo, hi = support[0], support[-1] + 1
    if vector is None:
        vector = torch.tensor(weights, dtype=rows.dtype, device=rows.device)
    return torch.mv(rows[lo:hi].t(), vector[lo:hi], out=out)


def _heaviest(weights: Weights) -> int:
    """The endpoint a non-floating tensor comes from: the largest weight, ties to the later endpoint."""
    return max(range(len(weights)), key=lambda i: (weights[i], i))


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
    return (t0, t1)[_heaviest(pair_weights(alpha))]


def mix_tensor(name: str, tensors: Sequence[torch.Tensor], weights: Weights) -> torch.Tensor:
    """One tensor of theta(w), as a new tensor (the rule of the fused engine, tensor by tensor)."""
    first = tensors[0]
    if not first.is_floating_point():
        return tensors[_heaviest(weights)].to(first.device).clone()
    rows = torch.stack([t.to(device=first.device, dtype=first.dtype).reshape(-1) for t in tensors])
    mixed = weighted_sum(rows, weights, torch.empty_like(rows[0])).view(first.shape)
    if name.endswith(VARIANCE_SUFFIXES) and min(weights) < 0:
        mixed.clamp_(min=0.0)
    return mixed


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


def check_all_compatible(thetas: Sequence[dict[str, torch.Tensor]]) -> None:
    """Every endpoint against the first (the pair check, N - 1 times); at least one endpoint."""
    if not thetas:
        raise WiseftError("no endpoint to interpolate")
    for index, theta in enumerate(thetas[1:], start=1):
        try:
            check_compatible(thetas[0], theta)
        except WiseftError as err:
            if len(thetas) == 2:
                raise
            raise WiseftError(f"endpoint {index} vs endpoint 0: {err}") from None


def mix_state_dicts(thetas: Sequence[dict[str, torch.Tensor]], weights: Sequence[float],
                    block_weights: BlockWeights = ()) -> dict[str, torch.Tensor]:
    """Pure function: a new state dict ``sum_i w_i theta_i`` (per-block overrides allowed). Used for saving."""
    check_all_compatible(thetas)
    weights = check_weights(weights, len(thetas))
    block_weights = tuple((p, check_weights(w, len(thetas), f"weights of {p!r}")) for p, w in block_weights)
    check_patterns_match(list(thetas[0]), block_weights)
    return {key: mix_tensor(key, [theta[key] for theta in thetas], weights_for(key, weights, block_weights))
            for key in thetas[0]}


def interpolate_state_dicts(
    theta0: dict[str, torch.Tensor],
    theta1: dict[str, torch.Tensor],
    alpha: float,
    block_alphas: BlockAlphas = (),
) -> dict[str, torch.Tensor]:
    """Pure function: a new state dict at ``alpha`` (per-block overrides allowed). Used for saving merges."""
    return mix_state_dicts([theta0, theta1], pair_weights(alpha), _pair_block_weights(block_alphas))


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


@dataclass(frozen=True)
class Run:
    """A maximal contiguous range of one dtype's buffer whose tensors share one weight vector."""

    dtype: torch.dtype
    start: int
    end: int
    weights: Weights
    vector: torch.Tensor  # the weights as a tensor on the engine's device (built once, cached with the run)


class WeightEndpoints:
    """N endpoints as one stacked buffer per dtype on one device; read-only once built, safe to share.

    ``WeightEndpoints([theta_0, ..., theta_N-1])`` or, for a pair, ``WeightEndpoints(theta0, theta1)``.
    """

    def __init__(self, *thetas, device: str | torch.device | None = None):
        thetas = list(thetas[0]) if len(thetas) == 1 and isinstance(thetas[0], (list, tuple)) else list(thetas)
        check_all_compatible(thetas)
        first = thetas[0]
        self.count = len(thetas)
        self.device = torch.device(device) if device is not None else next(iter(first.values())).device
        self.names = list(first)
        floats = [k for k in self.names if first[k].is_floating_point()]
        # Block order keeps each block contiguous, so a per-block weight is one kernel per block.
        floats.sort(key=lambda k: block_rank(block_name(k)))
        self.segments: list[Segment] = []
        self.stack: dict[torch.dtype, torch.Tensor] = {}
        for dtype in dict.fromkeys(first[k].dtype for k in floats):
            names = [k for k in floats if first[k].dtype == dtype]
            offset = 0
            for key in names:
                self.segments.append(Segment(key, dtype, offset, first[key].numel(), tuple(first[key].shape)))
                offset += first[key].numel()
            self.stack[dtype] = _stacked(thetas, names, dtype, offset, self.device)
        self.fixed = {k: tuple(theta[k].to(self.device) for theta in thetas)
                      for k in self.names if not first[k].is_floating_point()}
        self._by_name = {seg.name: seg for seg in self.segments}
        self._runs_cache: dict[tuple, list[Run]] = {}
        self.variance_segments = [seg for seg in self.segments if seg.name.endswith(VARIANCE_SUFFIXES)]

    @property
    def numel(self) -> int:
        """Values in one endpoint (one row of the stacked buffers)."""
        return sum(t.shape[1] for t in self.stack.values())

    def flat(self, index: int) -> dict[torch.dtype, torch.Tensor]:
        """Endpoint ``index`` as one flat buffer per dtype (views of the stacked rows, no copy)."""
        return {dtype: stack[index] for dtype, stack in self.stack.items()}

    @property
    def flat0(self) -> dict[torch.dtype, torch.Tensor]:
        return self.flat(0)

    @property
    def flat1(self) -> dict[torch.dtype, torch.Tensor]:
        return self.flat(1)

    def view(self, side: int, name: str) -> torch.Tensor:
        """A read-only-by-convention view of one endpoint tensor (no copy)."""
        seg = self._by_name[name]
        return self.stack[seg.dtype][side, seg.offset:seg.offset + seg.numel].view(seg.shape)

    def runs(self, weights: Weights, block_weights: BlockWeights = ()) -> list[Run]:
        """Maximal contiguous ranges sharing one weight vector: one range per buffer when the weights are global."""
        key = (weights, tuple((p, tuple(w)) for p, w in block_weights))
        cached = self._runs_cache.get(key)
        if cached is not None:
            return cached
        if block_weights:
            check_patterns_match(self.names, block_weights)
        runs: list[Run] = []
        vectors: dict[tuple, torch.Tensor] = {}
        for seg in self.segments:
            w = weights_for(seg.name, weights, block_weights)
            last = runs[-1] if runs else None
            if last and last.dtype == seg.dtype and last.end == seg.offset and last.weights == w:
                runs[-1] = Run(seg.dtype, last.start, seg.offset + seg.numel, w, last.vector)
            else:
                if (seg.dtype, w) not in vectors:
                    vectors[seg.dtype, w] = torch.tensor(w, dtype=seg.dtype, device=self.device)
                runs.append(Run(seg.dtype, seg.offset, seg.offset + seg.numel, w, vectors[seg.dtype, w]))
        if len(self._runs_cache) > 256:
            self._runs_cache.clear()
        self._runs_cache[key] = runs
        return runs

    def bind(self, model: nn.Module, side: int) -> nn.Module:
        """Make ``model``'s tensors views of endpoint ``side`` (saves a full copy of the weights)."""
        _bind(model, self.segments, self.flat(side), {k: v[side] for k, v in self.fixed.items()})
        return model


def _stacked(thetas: Sequence[dict[str, torch.Tensor]], names: list[str], dtype: torch.dtype, numel: int,
             device: torch.device) -> torch.Tensor:
    """``[N, numel]`` rows of the named tensors, written in place (no concatenated temporaries)."""
    stack = torch.empty((len(thetas), numel), dtype=dtype, device=device)
    with torch.no_grad():
        for row, theta in zip(stack, thetas):
            offset = 0
            for key in names:
                n = theta[key].numel()
                row[offset:offset + n].copy_(theta[key].reshape(-1))
                offset += n
    return stack


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
    """A live model whose weights are theta(w) = sum_i w_i theta_i; one per viewer/session, endpoints shared.

    ``model`` may be built on the meta device (``build_classifier(meta, "meta")``): its weights are
    rebound into the engine's own buffer, so a new live model never allocates (and initialises) a
    throw-away copy first; ``like`` supplies any tensor outside the state dict. It starts at endpoint 0.
    """

    def __init__(self, endpoints: WeightEndpoints, model: nn.Module, like: nn.Module | None = None):
        self.endpoints = endpoints
        self.out = {dtype: torch.empty_like(stack[0]) for dtype, stack in endpoints.stack.items()}
        model = model.eval().requires_grad_(False)
        _bind(model, endpoints.segments, self.out, {k: v[0] for k, v in endpoints.fixed.items()})
        _materialize_rest(model, like)
        self.model = model.to(endpoints.device)
        self.weights: Weights | None = None
        self.block_weights: tuple = ()
        self.alpha: float | None = None  # set by set_alpha (the pair's coordinate); None after set_weights
        self.block_alphas: tuple = ()
        self.set_weights((1.0,) + (0.0,) * (endpoints.count - 1))

    def is_at(self, alpha: float, block_alphas: BlockAlphas = ()) -> bool:
        """Whether the live weights are theta(alpha) with these block alphas already (set_alpha would be a no-op)."""
        return self.alpha == float(alpha) and self.block_alphas == tuple(block_alphas)

    def set_alpha(self, alpha: float, block_alphas: BlockAlphas = ()) -> None:
        """WiSE-FT on a pair: the weights (1 - alpha, alpha), per block too; one fused lerp per run."""
        if self.endpoints.count != 2:
            raise WiseftError(f"alpha needs a pair of endpoints; these are {self.endpoints.count}: use set_weights")
        self.set_weights(pair_weights(alpha), _pair_block_weights(block_alphas))
        self.alpha = float(alpha)
        self.block_alphas = tuple(block_alphas)

    @torch.no_grad()
    def set_weights(self, weights: Sequence[float], block_weights: BlockWeights = ()) -> None:
        """Rewrite the live weights in place as ``sum_i w_i theta_i``: one kernel per contiguous run, no allocation.

        ``weights`` sum to 1; ``block_weights`` are ``(pattern, weights)`` overrides (the last match wins).
        """
        ep = self.endpoints
        weights = check_weights(weights, ep.count)
        block_weights = tuple((p, check_weights(w, ep.count, f"weights of {p!r}")) for p, w in block_weights)
        runs = ep.runs(weights, block_weights)
        for run in runs:
            weighted_sum(ep.stack[run.dtype][:, run.start:run.end], run.weights, self.out[run.dtype][run.start:run.end],
                         run.vector)
        if ep.variance_segments and any(min(run.weights) < 0 for run in runs):  # inside the simplex: no clamp
            for seg in ep.variance_segments:
                if min(weights_for(seg.name, weights, block_weights)) < 0:
                    self.out[seg.dtype][seg.offset:seg.offset + seg.numel].clamp_(min=0.0)
        for name, values in ep.fixed.items():
            if _is_counter(name):  # other fixed tensors are equal in every endpoint and bound once
                _get_tensor(self.model, name).copy_(values[_heaviest(weights_for(name, weights, block_weights))])
        self.weights, self.block_weights = weights, block_weights
        self.alpha, self.block_alphas = None, ()


def _get_tensor(model: nn.Module, name: str) -> torch.Tensor:
    module_name, _, attr = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    return getattr(module, attr)
