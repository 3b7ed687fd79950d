"""Top-1 and loss of many state dicts of one architecture on fixed datasets, images preprocessed once.

A greedy soup, a grid over a plane of weights and a table of fine-tunes all score dozens of weight
sets on the same images; decoding and resizing those images again for each would dominate on small
models, so their batches are cached (``evaluation.BatchCache``) and one live model takes each state
dict in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from wiseft_core.data.datasets import load_dataset
from wiseft_core.evaluate import evaluation
from wiseft_core.files.checkpoints import CheckpointMeta, build_classifier


@dataclass(frozen=True)
class Score:
    top1: float  # percent
    loss: float  # mean cross-entropy
    n: int


class StateDictScorer:
    """Scores state dicts of the classifier ``meta`` describes on ``specs`` (``demo:photo@val``, ...)."""

    def __init__(self, meta: CheckpointMeta, specs: Sequence[str], batch_size: int = 500):
        self.model = build_classifier(meta, "cpu").eval()
        self.model.requires_grad_(False)
        transform = meta.preprocessing.eval_transform()
        self.datasets = {spec: load_dataset(spec) for spec in specs}
        self.batches = {spec: evaluation.BatchCache(loaded, transform, batch_size, workers=0)
                        for spec, loaded in self.datasets.items()}

    @property
    def specs(self) -> list[str]:
        return list(self.datasets)

    @torch.no_grad()
    def score(self, state_dict: dict[str, torch.Tensor], specs: Sequence[str] | None = None) -> dict[str, Score]:
        """{spec: Score} of ``state_dict`` on ``specs`` (default: all of this scorer's)."""
        self.model.load_state_dict(state_dict)
        scores = {}
        for spec in specs or self.specs:
            correct, n, loss = evaluation.accuracy_and_loss(self.model, self.batches[spec], self.datasets[spec],
                                                            torch.device("cpu"))
            scores[spec] = Score(evaluation.percent(correct, n), loss / n if n else float("nan"), n)
        return scores
