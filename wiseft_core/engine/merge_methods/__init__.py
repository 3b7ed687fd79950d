"""Merge methods: how the fine-tuned side of a pair is made from one or more fine-tunes (see registry.py)."""

from wiseft_core.engine.merge_methods import dare, task_arithmetic, ties, weighted_average, wise_ft  # noqa: F401  (register)
from wiseft_core.engine.merge_methods.registry import DEFAULT_METHOD, METHODS, MergeMethod, MergeSpec, make_spec

__all__ = ["DEFAULT_METHOD", "METHODS", "MergeMethod", "MergeSpec", "make_spec"]
