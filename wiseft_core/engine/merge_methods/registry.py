"""The merge-method registry: a method is a name, a validated config and a function over endpoint tensors.

Like mergekit's: one small module per method registers itself here. Every method makes the fine-tuned side
of a pair from theta0 (the zero-shot model) and one or more fine-tunes; WiSE-FT's alpha then interpolates
between theta0 and that side. Linear methods also give their weights over ``(theta0, theta_1, ..., theta_k)``
so the engine mixes them (live, or once with ``set_weights``); transforms (TIES, DARE) run tensor by tensor,
once, at load.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from wiseft_core.engine.interpolation import Weights
from wiseft_core.errors import WiseftError

DEFAULT_METHOD = "wise-ft"

# merge(config, name, base, finetuned) -> the merged fine-tuned side's tensor ``name``
TensorMerge = Callable[[Any, str, torch.Tensor, Sequence[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class MergeMethod:
    name: str
    config_type: type  # a frozen dataclass whose __post_init__ raises WiseftError on a bad value
    summary: str
    merge: TensorMerge
    weights: Callable[[Any, int], Weights] | None = None  # linear methods: weights over (theta0, theta_1..k)
    min_models: int = 1
    max_models: int | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # --method-arg names accepted for a config field

    @property
    def linear(self) -> bool:
        return self.weights is not None


@dataclass(frozen=True)
class MergeSpec:
    """A method with its validated config: what a merged checkpoint's recipe records."""

    method: MergeMethod
    config: Any

    @property
    def name(self) -> str:
        return self.method.name

    def params(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.config).items()}

    def label(self) -> str:
        """``ties density=0.2 scale=1.0``: the method and its parameters on one line."""
        params = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in self.params().items()]
        return " ".join([self.name, *params])

    def check_count(self, count: int) -> None:
        """The number of fine-tuned checkpoints this method takes."""
        low, high = self.method.min_models, self.method.max_models
        if count < low or (high is not None and count > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            raise WiseftError(f"--method {self.name} takes {wanted} fine-tuned checkpoint(s), got {count}")

    def weights_over(self, count: int) -> Weights:
        """Linear methods: the weights of ``(theta0, theta_1..theta_count)`` of the merged side."""
        self.check_count(count)
        return self.method.weights(self.config, count)

    def merge_tensor(self, name: str, base: torch.Tensor, finetuned: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.method.merge(self.config, name, base, finetuned)


METHODS: dict[str, MergeMethod] = {}


def register(method: MergeMethod) -> MergeMethod:
    METHODS[method.name] = method
    return method


def _parse_value(text: str, kind, label: str):
    origin = typing.get_origin(kind)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if origin is tuple or kind is tuple:
            return tuple(float(x) for x in text.split(",") if x.strip())
        if kind is int:
            return int(text)
        return float(text)
    except ValueError:
        raise WiseftError(f"--method-arg {label}: {text!r} is not a valid {getattr(kind, '__name__', kind)}") from None


def make_spec(name: str = DEFAULT_METHOD, args: Sequence[str] | dict[str, Any] = ()) -> MergeSpec:
    """``--method NAME --method-arg k=v ...`` as a validated MergeSpec (one clear line on a bad name or value)."""
    method = METHODS.get(name)
    if method is None:
        raise WiseftError(f"--method {name!r}: expected one of {', '.join(sorted(METHODS))}")
    hints = typing.get_type_hints(method.config_type)
    fields = [f.name for f in dataclasses.fields(method.config_type)]
    values: dict[str, Any] = {}
    items = args.items() if isinstance(args, dict) else [_split_arg(spec) for spec in args]
    for key, value in items:
        key = method.aliases.get(key, key)
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise WiseftError(f"--method-arg {key!r}: {name} has no such parameter (parameters: {known})")
        values[key] = _parse_value(value, hints[key], f"{key}={value}") if isinstance(value, str) else value
    return MergeSpec(method, method.config_type(**values))


def _split_arg(spec: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    if not sep or not key.strip():
        raise WiseftError(f"--method-arg expects KEY=VALUE (e.g. density=0.2), got {spec!r}")
    return key.strip(), value.strip()


def check_fraction(value: float, label: str, low_open: bool = True) -> None:
    """A fraction in (0, 1] (or [0, 1] with ``low_open=False``): a config check several methods share."""
    if not (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0):
        raise WiseftError(f"{label} must be in {'(0' if low_open else '[0'}, 1], got {value}")
