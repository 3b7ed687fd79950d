"""The benchmarks' one way to time a call: the median of a few runs, CUDA-synchronised when asked.

A median rather than a best (``wiseft_core.serve.timer.timed``): a benchmark reports what a user waits for
on a shared machine, not the cost of the computation alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_ms(fn: Callable[[], object], repeats: int, *, warmup: bool = True, cuda: bool = False) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs, after one untimed run if ``warmup``."""

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    if warmup:
        fn()
    times = []
    for _ in range(max(repeats, 1)):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def random_classifier(model_name: str, classes: int, device):
    """An open_clip image tower + linear head at random weights (seeded), in eval mode: what the engine mixes."""
    import torch

    from wiseft_core.files.models import ImageClassifier, build_vision_tower, model_config_of

    torch.manual_seed(0)
    config = model_config_of(model_name)
    model = ImageClassifier(build_vision_tower(config), torch.nn.Linear(config["embed_dim"], classes))
    return model.to(device).eval().requires_grad_(False)
