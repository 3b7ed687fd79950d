"""Which images flip: per-image predictions at every alpha, stored compactly, and the six groups.

The accuracy curve says *how many* images alpha gets right; these groups say *which*. At a chosen
alpha, each readable image falls in one of four endpoint groups (right at both ends, only zero-shot
right, only fine-tuned right, wrong at both) and possibly in one of two more that only the
interpolation has: **rescued** (wrong at alpha 0 and at alpha 1, right at alpha) and **lost** (right at
an endpoint, wrong at alpha).

Files are ``.npz`` (numpy, compressed): predictions in the narrowest integer type that holds the
class count, so 21 alphas x 12,000 demo images x two ensembles stay well under a megabyte.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wiseft_core.errors import WiseftError
from wiseft_core.inspection.along_alpha import AlongAlpha

FORMAT = "wiseft-flips/1"
GROUPS = ("both right", "only zero-shot right", "only fine-tuned right", "both wrong", "rescued", "lost")
GROUP_HELP = {
    "both right": "right at alpha 0 and at alpha 1",
    "only zero-shot right": "right at alpha 0, wrong at alpha 1",
    "only fine-tuned right": "wrong at alpha 0, right at alpha 1",
    "both wrong": "wrong at alpha 0 and at alpha 1",
    "rescued": "wrong at both ends, right at alpha",
    "lost": "right at an end, wrong at alpha",
}


def flip_groups(labels: np.ndarray, pred0: np.ndarray, pred1: np.ndarray, pred_alpha: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Boolean masks of the six groups (unreadable images, label -1, are in none)."""
    labels = np.asarray(labels)
    readable = labels >= 0
    right0, right1 = (np.asarray(pred0) == labels) & readable, (np.asarray(pred1) == labels) & readable
    right = (np.asarray(pred_alpha) == labels) & readable
    return {
        "both right": right0 & right1,
        "only zero-shot right": right0 & ~right1,
        "only fine-tuned right": ~right0 & right1 & readable,
        "both wrong": ~right0 & ~right1 & readable,
        "rescued": ~right0 & ~right1 & right,
        "lost": (right0 | right1) & ~right & readable,
    }


def groups_at(result: AlongAlpha, alpha: float) -> dict[str, np.ndarray]:
    """The six groups of one dataset/ensemble at ``alpha`` (which, like 0 and 1, must have been measured)."""
    try:
        k0, k1, k = result.index_of(0.0), result.index_of(1.0), result.index_of(alpha)
    except KeyError as err:
        raise WiseftError(f"{result.spec}: {err.args[0]}") from None
    p = result.predictions
    return flip_groups(result.labels, p[k0], p[k1], p[k])


def counts_at(result: AlongAlpha, alpha: float) -> dict[str, int]:
    return {name: int(mask.sum()) for name, mask in groups_at(result, alpha).items()}


def counts_along(result: AlongAlpha) -> dict[str, list[int]]:
    """Per measured alpha: the six group counts, and ``right`` (images right at that alpha)."""
    out: dict[str, list[int]] = {name: [] for name in (*GROUPS, "right")}
    readable = result.readable
    for k, alpha in enumerate(result.alphas):
        for name, count in counts_at(result, alpha).items():
            out[name].append(count)
        out["right"].append(int(((result.predictions[k] == result.labels) & readable).sum()))
    return out


def image_ref(spec: str, index: int) -> str:
    """How a link names one dataset image: ``<spec>#<index>`` (e.g. ``demo:sketch#17``)."""
    return f"{spec}#{int(index)}"


def parse_ref(ref: str) -> tuple[str, int]:
    spec, sep, index = ref.rpartition("#")
    if not sep or not spec or not index.isdigit():
        raise WiseftError(f"image link {ref!r}: expected <dataset spec>#<index>, e.g. demo:sketch#17")
    return spec, int(index)


def open_ref(ref: str, allowed_specs: Sequence[str] = ()):
    """(PIL image, label index) of a linked dataset image.

    Demo-world images are always allowed (they are generated, not read); any other dataset only when
    its spec is in ``allowed_specs`` (the datasets this server was asked to load), so a link cannot make
    the server open an arbitrary path.
    """
    from wiseft_core.data.datasets import load_dataset

    spec, index = parse_ref(ref)
    if not spec.startswith("demo:") and spec not in allowed_specs:
        raise WiseftError(f"image link {ref!r}: dataset {spec!r} is not one this app has loaded")
    loaded = load_dataset(spec)
    if not 0 <= index < len(loaded):
        raise WiseftError(f"image link {ref!r}: {spec} has {len(loaded)} images")
    image, label = loaded.images[index]
    return image, int(label)


def _narrow(predictions: np.ndarray) -> np.ndarray:
    top = int(predictions.max(initial=0))
    for dtype in (np.int8, np.int16, np.int32):
        if top <= np.iinfo(dtype).max:
            return predictions.astype(dtype)
    return predictions


def save_flips(path: str | os.PathLike, results: Sequence[AlongAlpha], info: dict | None = None) -> Path:
    """Write every (dataset, ensemble) result to one compressed ``.npz`` (atomically)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for i, r in enumerate(results):
        arrays[f"labels_{i}"] = _narrow(r.labels)
        arrays[f"predictions_{i}"] = _narrow(r.predictions)
        arrays[f"loss_sum_{i}"] = r.loss_sum.astype(np.float64)
        entries.append({"spec": r.spec, "ensemble": r.ensemble, "alphas": list(r.alphas), "names": r.names})
    header = {"format": FORMAT, "entries": entries, "info": info or {}}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)
    return path


@dataclass
class FlipsFile:
    """A loaded flips file: the results and the ``info`` it was written with (pair, command)."""

    results: list[AlongAlpha]
    info: dict

    def specs(self) -> list[str]:
        return list(dict.fromkeys(r.spec for r in self.results))

    def get(self, spec: str, ensemble: str = "weights") -> AlongAlpha:
        for r in self.results:
            if r.spec == spec and r.ensemble == ensemble:
                return r
        raise WiseftError(f"no {ensemble}-space predictions for {spec!r} in this flips file "
                          f"(it has: {', '.join(f'{r.spec} ({r.ensemble})' for r in self.results)})")


def load_flips(path: str | os.PathLike) -> FlipsFile:
    """Read a file written by :func:`save_flips`; anything else is a clear error."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode("utf-8"))
            if header.get("format") != FORMAT:
                raise WiseftError(f"{path}: not a wiseft flips file (format {header.get('format')!r})")
            results = [AlongAlpha(e["spec"], e["ensemble"], [float(a) for a in e["alphas"]],
                                  data[f"labels_{i}"].astype(np.int64), data[f"predictions_{i}"].astype(np.int64),
                                  data[f"loss_sum_{i}"].astype(np.float64), e.get("names"))
                       for i, e in enumerate(header["entries"])]
    except WiseftError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise WiseftError(f"cannot read flips file {path}: {err}") from None
    return FlipsFile(results, header.get("info", {}))
