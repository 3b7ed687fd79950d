"""What every reader test of another project's layout checks: our pair's forward against the library's own."""

from __future__ import annotations

from collections.abc import Callable

import torch

ALPHAS = (0.0, 0.5, 1.0)  # both endpoints exactly and the mix between them


def our_probabilities(pair, alpha: float, images: torch.Tensor) -> torch.Tensor:
    live = pair.new_interpolator()
    live.set_alpha(alpha)
    with torch.no_grad():
        return live.model(images).softmax(-1)


def assert_matches_theirs(pair, images: torch.Tensor, theirs: Callable[[float], torch.Tensor],
                          atol: float = 1e-5) -> None:
    """At each alpha, our probabilities equal ``theirs(alpha)`` (the library's forward of its own merge)."""
    for alpha in ALPHAS:
        with torch.no_grad():
            expected = theirs(alpha)
        difference = (our_probabilities(pair, alpha, images) - expected).abs().max().item()
        assert difference <= atol, (alpha, difference)


def assert_same_pair(converted, direct, images: torch.Tensor) -> None:
    """A converted file gives bit for bit the numbers of the file it came from."""
    for alpha in ALPHAS:
        assert torch.equal(our_probabilities(converted, alpha, images), our_probabilities(direct, alpha, images))
