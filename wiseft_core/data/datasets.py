"""Dataset registry: ``NAME=PATH`` specs for ImageNet, its shifts, plain folders, CSV lists, the demo world.

Every spec resolves to a :class:`LoadedDataset` whose items are ``(PIL.Image, label)`` in the dataset's
own label space, plus the logit projection that maps a classifier's outputs onto that label space
(ImageNet-R/-A keep 200 columns, ObjectNet takes maxima). The exact spec string is what the sweep CSV
records in its ``dataset`` column, so anyone can re-measure a row with it.

Specs: ``imagenet=DIR`` (``DIR/<wnid>/*``, or ``DIR/val`` and ``DIR/train`` inside), ``imagenet-v2=DIR``
(folders ``0..999``), ``imagenet-sketch=DIR`` (wnid folders), ``imagenet-r=DIR``, ``imagenet-a=DIR``
(200 wnid folders), ``objectnet=DIR`` (``DIR/images/<folder>/*`` or ``DIR/<folder>/*``), ``folder=DIR``
(any ImageFolder), ``csv=FILE`` (``path,label`` rows) and ``demo:<name>`` (``demo:<name>@val`` for a split).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from wiseft_core.data import projections
from wiseft_core.errors import WiseftError
from wiseft_core.files.models import MAX_CLASSES

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm"}
IMAGENET_KINDS = ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "objectnet")
OBJECTNET_BORDER = 2  # px cropped from every side: ObjectNet images carry a 1-px red frame


@dataclass
class LoadedDataset:
    """A dataset ready for evaluation or fine-tuning.

    ``projection`` maps classifier logits (``num_model_classes`` wide) to ``classnames`` (None: identity).
    ``crop_border`` pixels are removed from every side before preprocessing.
    """

    spec: str
    kind: str
    images: Dataset
    classnames: list[str]
    projection: Callable | None = None
    num_model_classes: int | None = None
    crop_border: int = 0
    width_is_minimum: bool = False  # csv without classnames.txt: labels only bound the head's width
    paths: list[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.images)

    def describe(self, index: int) -> str:
        """A human-readable name of item ``index`` (its file path when there is one)."""
        return self.paths[index] if self.paths is not None else f"{self.spec}#{index}"

    def check_classifier_width(self, num_outputs: int, classnames: Sequence[str] | None = None) -> None:
        """Fail early, with a clear message, when a classifier's head cannot serve this dataset.

        With the head's ``classnames``, a ``folder=`` dataset is also labelled by them (see
        :meth:`match_folders`), not by the folders' sorted order.
        """
        expected = self.num_model_classes if self.num_model_classes is not None else len(self.classnames)
        if self.width_is_minimum and num_outputs >= expected:
            return
        if num_outputs != expected:
            raise WiseftError(
                f"dataset {self.spec!r} needs a classifier with {expected} outputs "
                f"({'ImageNet classes' if self.kind in IMAGENET_KINDS else 'its classes'}), "
                f"but the checkpoint's head has {num_outputs}"
            )
        if classnames is not None and self.kind == "folder":
            self.match_folders(list(classnames))

    def match_folders(self, classnames: list[str]) -> None:
        """Relabel a folder dataset so each folder's images carry the index of *its* class in the head.

        Folder (or classnames.txt) names are compared with the head's class names ignoring case and
        ``_`` versus space; any difference is refused, never guessed (sorted order silently mislabels).
        """
        ours = [normalised_classname(n) for n in self.classnames]
        theirs = {normalised_classname(n): i for i, n in enumerate(classnames)}
        if len(theirs) != len(classnames) or len(set(ours)) != len(ours):
            side = "the checkpoint's class names" if len(theirs) != len(classnames) else "its folder names"
            raise WiseftError(f"dataset {self.spec!r}: {side} repeat a name (case and _/space ignored), so folders "
                              "cannot be matched to classes; use a csv= dataset with class indices")
        unmatched = [n for n, key in zip(self.classnames, ours) if key not in theirs]
        unused = [n for n in classnames if normalised_classname(n) not in set(ours)]
        if unmatched or unused:
            raise WiseftError(f"dataset {self.spec!r}: its class folders do not match the checkpoint's class names "
                              f"(case and _/space ignored): folders without a class: {_first(unmatched)}; classes "
                              f"without a folder: {_first(unused)}; rename the folders or add a classnames.txt")
        order = [theirs[key] for key in ours]
        self.images = ImageFiles([(path, order[label]) for path, label in self.images.samples])
        self.classnames = list(classnames)


def normalised_classname(name: str) -> str:
    """A class name as folders and heads are compared: case-folded, ``_`` as space, spaces collapsed."""
    return " ".join(name.replace("_", " ").split()).casefold()


def _first(names: list[str], count: int = 4) -> str:
    if not names:
        return "none"
    return ", ".join(repr(n) for n in names[:count]) + (f" and {len(names) - count} more" if len(names) > count else "")


class ImageFiles(Dataset):
    """``(path, label)`` pairs opened lazily as RGB PIL images; unreadable files raise WiseftError."""

    def __init__(self, samples: list[tuple[str, int]]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        from wiseft_core.files.images import open_image

        path, label = self.samples[index]
        return open_image(path), label


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``NAME=PATH`` (or ``demo:<name>``) into (kind, path); unknown names get a clear error."""
    if spec.startswith("demo:"):
        return spec, None
    kind, sep, path = spec.partition("=")
    kind = kind.strip().lower()
    if not sep or kind not in PATH_KINDS or not path:
        raise WiseftError(
            f"cannot read dataset spec {spec!r}: expected NAME=PATH with NAME one of "
            f"{', '.join(PATH_KINDS)}, or demo:<name> (e.g. imagenet-r=/data/imagenet-r, demo:sketch)"
        )
    return kind, path


def load_dataset(spec: str, split: str = "test") -> LoadedDataset:
    """Resolve a spec to a :class:`LoadedDataset`; ``split`` is "train" for fine-tuning, else "test"."""
    kind, path = parse_spec(spec)
    if path is None:
        return _demo(spec, split)
    return LOADERS[kind](spec, Path(path).expanduser(), split)


# ---------------------------------------------------------------------------- file listing helpers

def _require_dir(path: Path, spec: str, layout: str) -> None:
    if not path.is_dir():
        raise WiseftError(f"dataset {spec!r}: folder not found: {path} (expected layout: {layout})")


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[str]:
    return sorted(
        str(p) for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith(".")
    )


def _samples_from_folders(folders: dict[str, int], root: Path, spec: str, layout: str) -> list:
    samples = [(f, label) for name, label in folders.items() for f in _images_in(root / name)]
    if not samples:
        raise WiseftError(f"dataset {spec!r}: no images found under {root} (expected layout: {layout})")
    return samples


def _loaded(spec: str, kind: str, samples, classnames, **kwargs) -> LoadedDataset:
    return LoadedDataset(spec=spec, kind=kind, images=ImageFiles(samples), classnames=list(classnames),
                         paths=[p for p, _ in samples], **kwargs)


def _imagenet_classnames() -> list[str]:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return list(IMAGENET_CLASSNAMES)


def _wnid_folders(root: Path, spec: str, allowed: list[str], layout: str) -> dict[str, int]:
    """Map the wnid folders present to label indices in ``allowed``; stray folders are a layout error."""
    position = {wnid: i for i, wnid in enumerate(allowed)}
    names = [p.name for p in _subdirs(root)]
    unknown = [n for n in names if n not in position]
    if unknown or not names:
        shown = ", ".join(unknown[:3]) if unknown else "none"
        raise WiseftError(
            f"dataset {spec!r}: unexpected layout in {root}: found folder(s) {shown}; expected {layout}"
        )
    return {n: position[n] for n in names}


# ---------------------------------------------------------------------------- the registry

def _imagenet(spec: str, root: Path, split: str) -> LoadedDataset:
    layout = "<wnid>/*.JPEG class folders (e.g. n01440764/), or val/ and train/ folders holding them"
    _require_dir(root, spec, layout)
    sub = root / ("train" if split == "train" else "val")
    if sub.is_dir():
        root = sub
    wnids = list(projections.imagenet_wnids())
    folders = _wnid_folders(root, spec, wnids, layout)
    samples = _samples_from_folders(folders, root, spec, layout)
    return _loaded(spec, "imagenet", samples, _imagenet_classnames(), num_model_classes=1000)


def _imagenet_v2(spec: str, root: Path, split: str) -> LoadedDataset:
    layout = "class-index folders 0/ .. 999/ (imagenetv2-matched-frequency-format-val)"
    _require_dir(root, spec, layout)
    names = [p.name for p in _subdirs(root)]
    bad = [n for n in names if not (n.isdigit() and int(n) < 1000)]
    if bad or not names:
        raise WiseftError(f"dataset {spec!r}: unexpected layout in {root}: found folder(s) "
                          f"{', '.join(bad[:3]) or 'none'}; expected {layout}")
    samples = _samples_from_folders({n: int(n) for n in names}, root, spec, layout)
    return _loaded(spec, "imagenet-v2", samples, _imagenet_classnames(), num_model_classes=1000)


def _imagenet_sketch(spec: str, root: Path, split: str) -> LoadedDataset:
    layout = "<wnid>/* class folders (ImageNet-Sketch's sketch/ folder, 1000 wnids)"
    _require_dir(root, spec, layout)
    if (root / "sketch").is_dir():
        root = root / "sketch"
    folders = _wnid_folders(root, spec, list(projections.imagenet_wnids()), layout)
    samples = _samples_from_folders(folders, root, spec, layout)
    return _loaded(spec, "imagenet-sketch", samples, _imagenet_classnames(), num_model_classes=1000)


def _imagenet_subset(spec: str, root: Path, kind: str, indices: list[int]) -> LoadedDataset:
    """ImageNet-R/-A: 200 wnid folders; label j is the j-th class of the 200-index list."""
    wnids = projections.imagenet_wnids()
    layout = f"<wnid>/* class folders of the 200 {kind} classes (e.g. {wnids[indices[0]]}/)"
    _require_dir(root, spec, layout)
    folders = _wnid_folders(root, spec, [wnids[i] for i in indices], layout)
    samples = _samples_from_folders(folders, root, spec, layout)
    names = _imagenet_classnames()
    return _loaded(spec, kind, samples, [names[i] for i in indices],
                   projection=projections.SubsetProjection(indices), num_model_classes=1000)


def _imagenet_r(spec: str, root: Path, split: str) -> LoadedDataset:
    return _imagenet_subset(spec, root, "imagenet-r", projections.imagenet_r_indices())


def _imagenet_a(spec: str, root: Path, split: str) -> LoadedDataset:
    return _imagenet_subset(spec, root, "imagenet-a", projections.imagenet_a_indices())


def _objectnet(spec: str, root: Path, split: str) -> LoadedDataset:
    """Only the 113 folders that overlap ImageNet are used; the other ObjectNet folders are ignored."""
    layout = "images/<folder>/* with ObjectNet's folder names (e.g. images/alarm_clock/)"
    _require_dir(root, spec, layout)
    if (root / "images").is_dir():
        root = root / "images"
    mapping = projections.objectnet_mapping()
    position = {folder: i for i, folder in enumerate(mapping)}
    present = {p.name: position[p.name] for p in _subdirs(root) if p.name in position}
    if not present:
        raise WiseftError(f"dataset {spec!r}: none of the 113 ObjectNet classes that overlap ImageNet "
                          f"found in {root}; expected {layout}")
    samples = _samples_from_folders(present, root, spec, layout)
    return _loaded(spec, "objectnet", samples, [e["name"] for e in mapping.values()],
                   projection=projections.objectnet_projection(), num_model_classes=1000,
                   crop_border=OBJECTNET_BORDER)


def _folder(spec: str, root: Path, split: str) -> LoadedDataset:
    """Any ImageFolder: label = rank of the folder in sorted order; names from classnames.txt if present."""
    layout = "one sub-folder of images per class (sorted folder order = class index), optional classnames.txt"
    _require_dir(root, spec, layout)
    names = [p.name for p in _subdirs(root)]
    if not names:
        raise WiseftError(f"dataset {spec!r}: no class folders in {root}; expected {layout}")
    classnames = names
    listed = root / "classnames.txt"
    if listed.is_file():
        classnames = _classnames_file(listed)
        if len(classnames) != len(names):
            raise WiseftError(f"{listed} lists {len(classnames)} class names but {root} has "
                              f"{len(names)} class folders")
    samples = _samples_from_folders({n: i for i, n in enumerate(names)}, root, spec, layout)
    return _loaded(spec, "folder", samples, classnames)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise WiseftError(f"{path}: {what} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise WiseftError(f"{path}: cannot read {what} ({err.strerror or err})") from None


def _classnames_file(path: Path) -> list[str]:
    return [c.strip() for c in _read_text(path, "class-name list").splitlines() if c.strip()]


def _csv(spec: str, path: Path, split: str) -> LoadedDataset:
    """``path,label`` rows (header optional); relative paths are relative to the CSV's folder."""
    if not path.is_file():
        raise WiseftError(f"dataset {spec!r}: CSV file not found: {path} (expected rows 'path,label')")
    listed = path.parent / "classnames.txt"
    classnames = _classnames_file(listed) if listed.is_file() else None
    limit = len(classnames) if classnames is not None else MAX_CLASSES
    samples = []
    try:
        rows = list(csv.reader(io.StringIO(_read_text(path, "CSV file"), newline="")))
    except csv.Error as err:
        raise WiseftError(f"{path}: not a readable CSV file ({err})") from None
    for line_no, row in enumerate(rows, start=1):
        if not row or not "".join(row).strip():
            continue
        if line_no == 1 and row[-1].strip().lower() == "label":
            continue
        if len(row) < 2:
            raise WiseftError(f"{path}, line {line_no}: expected 'path,label', got {','.join(row)[:80]!r}")
        try:
            label = int(row[1])
        except ValueError:
            raise WiseftError(f"{path}, line {line_no}: label must be an integer class index, "
                              f"got {row[1][:40]!r}") from None
        if not 0 <= label < limit:
            where = (f"{listed} lists {limit} class names" if classnames is not None
                     else f"at most {MAX_CLASSES:,} classes are supported")
            raise WiseftError(f"{path}, line {line_no}: label {label} is not a class index in 0..{limit - 1} "
                              f"({where})")
        if "\0" in row[0]:
            raise WiseftError(f"{path}, line {line_no}: the file path contains a NUL byte")
        file = Path(row[0].strip())
        samples.append((str(file if file.is_absolute() else path.parent / file), label))
    if not samples:
        raise WiseftError(f"dataset {spec!r}: {path} has no 'path,label' rows")
    if classnames is None:
        classnames = [str(i) for i in range(max(label for _, label in samples) + 1)]
    # Without classnames.txt the labels only bound the width: any head at least that wide is accepted.
    return _loaded(spec, "csv", samples, classnames, width_is_minimum=not listed.is_file())


def _demo(spec: str, split: str) -> LoadedDataset:
    """``demo:<name>``: a distribution of the offline demo world, generated on the fly.

    ``demo:<name>@val`` picks another split explicitly (the validation draw used to choose hyper-parameters).
    """
    from wiseft_core.data import world  # lazy: the demo world is optional for real-data users

    name, _, explicit = spec.split(":", 1)[1].partition("@")
    images = world.demo_dataset(name, split=explicit or split)  # validates the name and split
    return LoadedDataset(spec=spec, kind=spec, images=images, classnames=list(world.CLASSNAMES))


def default_reference(specs: list[str]) -> str | None:
    """The reference distribution among ``specs``: ImageNet or the demo world's reference, else the first."""
    for spec in specs:
        kind = spec.partition("=")[0].strip().lower()
        if kind == "imagenet":
            return spec
        if spec.startswith("demo:"):
            from wiseft_core.data import world

            if spec == f"demo:{world.REFERENCE}":
                return spec
    return specs[0] if specs else None


def matches(spec: str, name: str) -> bool:
    """``--reference NAME`` matches a spec by its exact string or by its registry name (``imagenet``)."""
    return name == spec or name.strip().lower() == spec.partition("=")[0].strip().lower()


# NAME=PATH dataset names, each with its loader: the one list every help text and error message derives from.
LOADERS = {
    "imagenet": _imagenet, "imagenet-v2": _imagenet_v2, "imagenet-sketch": _imagenet_sketch,
    "imagenet-r": _imagenet_r, "imagenet-a": _imagenet_a, "objectnet": _objectnet,
    "folder": _folder, "csv": _csv,
}
PATH_KINDS = tuple(LOADERS)
