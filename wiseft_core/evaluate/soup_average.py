"""Model soups: a weighted average of N fine-tunes' state dicts, and the greedy recipe that picks them.

Wortsman et al., *Model soups* (ICML 2022): fine-tunes of one start share a basin, so their weight
average is one model that is often better than each of them. ``soup_state_dict`` is the one place
the app and the demo build average weights, so a faster N-way engine can replace it without
touching its callers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from wiseft_core.engine.interpolation import mix_state_dicts
from wiseft_core.errors import WiseftError


def _check_soup(state_dicts: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]) -> None:
    if not state_dicts:
        raise WiseftError("a soup needs at least one state dict")
    if len(weights) != len(state_dicts):
        raise WiseftError(f"a soup of {len(state_dicts)} state dicts needs {len(state_dicts)} weights, "
                          f"got {len(weights)}")
    if not all(math.isfinite(float(w)) for w in weights):
        raise WiseftError(f"soup weights must be finite numbers, got {list(weights)}")
    first = state_dicts[0]
    for i, other in enumerate(state_dicts[1:], start=1):
        if other.keys() != first.keys():
            extra = sorted(set(other) ^ set(first))[:3]
            raise WiseftError(f"state dict {i} has other tensors than state dict 0 (e.g. {', '.join(extra)})")
        bad = next((k for k in first if other[k].shape != first[k].shape), None)
        if bad is not None:
            raise WiseftError(f"state dict {i}: {bad} has shape {tuple(other[bad].shape)}, "
                              f"state dict 0 has {tuple(first[bad].shape)}")


def soup_state_dict(state_dicts: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]
                    ) -> dict[str, torch.Tensor]:
    """``sum_i weights[i] * state_dicts[i]`` for floating tensors, in fp32.

    The engine's pure N-way mix (``engine.interpolation.mix_state_dicts``): weights sum to 1 (on the
    simplex, or affine to extrapolate); integer tensors (BatchNorm's step counters) are not averaged: the
    soup takes those of the ingredient with the largest weight.
    """
    _check_soup(state_dicts, weights)
    return mix_state_dicts(list(state_dicts), [float(w) for w in weights])


def uniform_weights(n: int) -> list[float]:
    return [1.0 / n] * n


def greedy_soup(ranked: Sequence[int], held_out: Callable[[list[int]], float]) -> tuple[list[int], list[dict]]:
    """The paper's greedy soup: ingredients in ``ranked`` order (best held-out accuracy first); each joins the
    soup if the uniform average of the soup with it scores strictly higher on the held-out set.

    ``held_out(indices)`` is the held-out accuracy of the uniform soup of those ingredients. Returns the
    chosen indices and one trace entry per candidate (its index, the score with it, whether it was kept).
    """
    if not ranked:
        raise WiseftError("a greedy soup needs at least one ingredient")
    chosen = [ranked[0]]
    best = held_out(chosen)
    trace = [{"ingredient": ranked[0], "score": best, "kept": True}]
    for candidate in ranked[1:]:
        score = held_out([*chosen, candidate])
        kept = score > best
        trace.append({"ingredient": candidate, "score": score, "kept": kept})
        if kept:
            chosen.append(candidate)
            best = score
    return chosen, trace
