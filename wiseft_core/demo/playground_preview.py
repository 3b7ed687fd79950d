"""The Playground's first answer on a new server, drawn before PyTorch has loaded.

A new server imports PyTorch and open_clip before it can run a model: seconds in which a room's first
viewer would see no prediction. The demo pair and a first visit's gallery pick are fixed, so the live
slider's payload at every grid alpha (real forwards through the same engine and the same payload code
the page uses) is computed when the demo is built and stored beside the pair, stamped with both files'
sha256: a rebuilt pair never shows a stale preview, and a test checks that the page sends these numbers.

Reading is plain JSON and hashing: this module imports PyTorch only inside :func:`build_preview`.
"""

from __future__ import annotations

import json
from pathlib import Path

from wiseft_core.demo.assets import DEMO_DIR, PREVIEW_FILE
from wiseft_core.files.digests import file_sha256

FORMAT = 1
_HASHES: dict[tuple, str] = {}


def remembered_sha256(path: Path) -> str:
    """A file's sha256, remembered per (path, size, mtime) so a rerun does not hash it again."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def _pair_files(demo_dir: Path) -> tuple[Path, Path]:
    return demo_dir / "zeroshot.safetensors", demo_dir / "finetuned.safetensors"


def build_preview(demo_dir: Path = DEMO_DIR) -> dict:
    """The slider payloads of a first visit (its gallery pick, weight space) at every grid alpha."""
    from wiseft_core.demo.gallery import first_visit_keys, gallery_samples  # PyTorch: see the module's docstring
    from wiseft_core.engine.pair import load_pair
    from wiseft_core.engine.predict import to_batch
    from wiseft_core.files.images import model_sized, open_image
    from wiseft_core.serve.alpha_grid import ALPHA_GRID, PartialGrid, fill_step
    from wiseft_core.serve.interpolator_pool import InterpolatorPool
    from wiseft_core.serve.slider_data import TOP_K, grid_probs, image_entry, slider_data, thumbnail_data_url

    zeroshot, finetuned = _pair_files(demo_dir)
    pair = load_pair(str(zeroshot), str(finetuned), device="cpu")
    groups = gallery_samples(demo_dir / "samples", pair.classnames)
    keys = first_visit_keys(groups)
    picked = [item for items in groups.values() for item in items if item.key in keys]
    images = [model_sized(open_image(item.path), pair.preprocessing) for item in picked]
    batch = to_batch(images, pair.preprocessing)
    pool = InterpolatorPool(lambda: pair.new_interpolator("cpu"), size=1)
    grids = [PartialGrid(len(pair.classnames)) for _ in picked]
    for i, grid in enumerate(grids):
        while fill_step(pool, batch[i:i + 1], grid):
            pass
    payloads = {}
    for alpha in ALPHA_GRID:
        entries = []
        for item, grid in zip(picked, grids):
            rows = grid_probs(grid, "weights")
            label = pair.classnames.index(item.label) if item.label in pair.classnames else None
            entry = image_entry(item.display_name, label, item.label, "", rows, rows[ALPHA_GRID.index(alpha)], TOP_K)
            entries.append({k: v for k, v in entry.items() if k != "thumb"})
        payloads[f"{alpha:g}"] = slider_data(entries, pair.classnames, alpha, 0.0, 1.0, "weights", grid_usable=True,
                                             pending=False, top_k=TOP_K)
    return {"format": FORMAT, "zeroshot_sha256": file_sha256(zeroshot), "finetuned_sha256": file_sha256(finetuned),
            "sample": ",".join(item.key for item in picked), "thumbs": [thumbnail_data_url(im) for im in images],
            "payloads": payloads}


def write_preview(demo_dir: Path = DEMO_DIR) -> Path:
    path = demo_dir / PREVIEW_FILE
    path.write_text(json.dumps(build_preview(demo_dir), separators=(",", ":")) + "\n")
    return path


def preview_payload(alpha: float, sample: str | None, demo_dir: Path = DEMO_DIR) -> dict | None:
    """The stored payload for a first visit at ``alpha``, or None when it does not apply.

    None for an alpha off the grid, a ``?sample=`` pick other than a first visit's, a missing or
    unreadable file, or a pair whose files are not the ones the preview was computed from.
    """
    zeroshot, finetuned = _pair_files(demo_dir)
    try:
        stored = json.loads((demo_dir / PREVIEW_FILE).read_text())
        if stored.get("format") != FORMAT or sample not in (None, "", stored["sample"]):
            return None
        payload = stored["payloads"].get(f"{alpha:g}")
        if payload is None or (remembered_sha256(zeroshot), remembered_sha256(finetuned)) != (
                stored["zeroshot_sha256"], stored["finetuned_sha256"]):
            return None
        images = [{**image, "thumb": thumb} for image, thumb in zip(payload["images"], stored["thumbs"])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {**payload, "images": images, "preview": True}
