"""What the operator decides when launching the app (``streamlit run app.py -- ...``), never a viewer.

Trust is a launch decision: unpickling runs code from the file, so only ``--trust-pickle`` allows it;
server files are reachable only inside the folders given with ``--models-dir`` (plus the pair named
with ``--zeroshot``/``--finetuned``) and the datasets in the folders given with ``--data-dir``. Viewers
choose among those by name or upload their own checkpoints; they never type a server path.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wiseft_core.errors import WiseftError

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
MAX_LISTED = 500  # a models folder is a shelf, not a file system to browse


@dataclass(frozen=True)
class LaunchOptions:
    """What the operator passed after ``--`` in ``streamlit run app.py -- --zeroshot A --finetuned B``."""

    zeroshot: str | None = None
    finetuned: str | None = None
    device: str | None = None
    threads: int | None = None
    models_dirs: tuple[str, ...] = field(default_factory=tuple)
    data_dirs: tuple[str, ...] = field(default_factory=tuple)
    trust_pickle: bool = False
    live_models: int = 2  # live model copies shared by the room (off-grid and per-block alphas)
    job_workers: int = 1  # viewers' long computations (flips, landscape, saliency) run this many at a time


def parse_launch_args(argv: Sequence[str]) -> LaunchOptions:
    """Parse the app's own options; unknown arguments are ignored so Streamlit's flags never break it."""
    parser = argparse.ArgumentParser(prog="app.py", add_help=False)
    parser.add_argument("--zeroshot")
    parser.add_argument("--finetuned")
    parser.add_argument("--device")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--models-dir", action="append", default=[])
    parser.add_argument("--data-dir", action="append", default=[])
    parser.add_argument("--trust-pickle", action="store_true")
    parser.add_argument("--live-models", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=1)
    known, _ = parser.parse_known_args(list(argv))
    return LaunchOptions(zeroshot=known.zeroshot, finetuned=known.finetuned, device=known.device,
                         threads=known.threads, models_dirs=tuple(known.models_dir), data_dirs=tuple(known.data_dir),
                         trust_pickle=known.trust_pickle, live_models=max(1, known.live_models),
                         job_workers=max(1, known.job_workers))


def default_threads(cpu_count: int | None = None) -> int:
    """CPU threads per prediction in the app: half the cores (at least one).

    An app server shares its cores between viewers: when more intra-op threads than free cores spin
    against each other a forward gets many times slower. ``--threads N`` overrides it.
    """
    return max(1, (cpu_count if cpu_count is not None else os.cpu_count() or 2) // 2)


def model_files(options: LaunchOptions) -> dict[str, Path]:
    """The server checkpoints a viewer may pick, by display name: the launch pair and the models folders.

    Names are relative to their folder (prefixed by the folder's name when several are given), so a
    viewer sees what the operator shelved and never an absolute server path. Symbolic links are
    skipped: a link inside a models folder could point anywhere.
    """
    files: dict[str, Path] = {}
    for path in (options.zeroshot, options.finetuned):
        if path and Path(path).is_file():
            files.setdefault(Path(path).name, Path(path).resolve())
    several = len(options.models_dirs) > 1
    for folder in options.models_dirs:
        root = Path(folder).resolve()
        if not root.is_dir():
            continue
        for path in _checkpoints_under(root):
            if len(files) >= MAX_LISTED:
                break
            name = str(path.relative_to(root))
            files.setdefault(f"{root.name}/{name}" if several else name, path)
    return files


def _checkpoints_under(root: Path, suffixes: Sequence[str] = CHECKPOINT_SUFFIXES) -> list[Path]:
    """Checkpoint files below ``root``, never through a symbolic link (``os.walk`` does not follow them)."""
    found = []
    for folder, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(folder) / name
            if path.suffix.lower() in suffixes and not path.is_symlink() and path.is_file():
                found.append(path)
    return sorted(found)


def classname_files(options: LaunchOptions) -> dict[str, Path]:
    """The class-name files (``.txt``) in the operator's models folders, by name relative to their folder.

    For checkpoints that store no class names (wise-ft files): a viewer picks one instead of a server path.
    """
    files: dict[str, Path] = {}
    several = len(options.models_dirs) > 1
    for folder in options.models_dirs:
        root = Path(folder).resolve()
        if root.is_dir():
            for path in _checkpoints_under(root, (".txt",))[:MAX_LISTED]:
                name = str(path.relative_to(root))
                files.setdefault(f"{root.name}/{name}" if several else name, path)
    return files


def resolve_model_file(name: str, options: LaunchOptions) -> Path:
    """The server path behind a listed name; anything else gets the same message whether or not it exists."""
    path = model_files(options).get(name)
    if path is None:
        raise WiseftError(f"{name!r} is not one of the checkpoints this app was started with")
    return path


def dataset_choices(options: LaunchOptions) -> dict[str, str]:
    """Labelled datasets a viewer may evaluate on, by display name -> dataset spec.

    The demo world's distributions are generated, not read, so they are always offered. Server data is
    offered only from the operator's ``--data-dir`` folders: each subfolder there is a ``folder=``
    dataset and each ``.csv`` file a ``csv=`` one (symbolic links skipped), so no viewer can point the
    server at a path of their choosing.
    """
    from wiseft_core.data.world import DISTRIBUTIONS

    choices = {f"demo:{name}": f"demo:{name}" for name in DISTRIBUTIONS}
    for folder in options.data_dirs:
        root = Path(folder).resolve()
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir())[:MAX_LISTED]:
            if path.is_symlink():
                continue
            if path.is_dir():
                choices.setdefault(f"{root.name}/{path.name}", f"folder={path}")
            elif path.suffix.lower() == ".csv" and path.is_file():
                choices.setdefault(f"{root.name}/{path.name}", f"csv={path}")
    return choices
