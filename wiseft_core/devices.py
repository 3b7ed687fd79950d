"""Which torch device a command or the app runs on: one rule for every entry point."""

from __future__ import annotations

import torch

from wiseft_core.errors import WiseftError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA on a machine without it is a clear error."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise WiseftError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise WiseftError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or auto")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise WiseftError("CUDA was requested but this machine has no usable CUDA device; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise WiseftError(f"no device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def viewer_device(requested: str) -> tuple[str, bool]:
    """The device a viewer's choice gets (``cpu``/``cuda``) and whether CUDA was asked for but is missing.

    A viewer cannot fix the machine, so the app falls back to the CPU (and says so) instead of failing.
    """
    if requested == "cuda" and not torch.cuda.is_available():
        return "cpu", True
    return ("cuda" if requested == "cuda" else "cpu"), False


def default_viewer_device(launch_device: str | None) -> str:
    """The app's preselected device: the operator's ``--device``, else CUDA when present."""
    if launch_device in ("cpu", "cuda"):
        return launch_device
    return "cuda" if torch.cuda.is_available() else "cpu"
