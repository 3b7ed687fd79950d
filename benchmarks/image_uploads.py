"""What a hostile image upload costs the server: 20 solid-colour 6000x6000 PNGs (about 2.3 MB in all).

    python benchmarks/image_uploads.py [--json] [--count 20] [--side 6000]

Each variant runs in a fresh process and reports ``peak_mb`` (the process's peak RSS above its
baseline, from ``getrusage``) and ``kept_mb`` (RSS above the baseline while the page's images are
held, as the Playground's fragment holds them between reruns):
- ``before``: the old page: every uploaded file decoded at full resolution, then the 6-image cap;
- ``after``: the server-side widget limit first (6 files, bytes checked without reading), each file
  decoded once into the session's memo and kept only model-sized (``images.model_sized``); a rerun
  costs no decode (``rerun_decodes``).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.size, self.file_id, self._data = name, len(data), name, data

    def getvalue(self) -> bytes:
        return self._data


def _files(count: int, side: int) -> list[_Upload]:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (30, 120, 200)).save(buffer, "PNG")
    data = buffer.getvalue()
    return [_Upload(f"solid{i}.png", data) for i in range(count)]


def _variant(name: str, count: int, side: int) -> dict:
    """Runs inside the child process."""
    import gc

    from wiseft_core.files.images import ImageMemo, model_sized, open_image_with_notes
    from wiseft_core.files.models import Preprocessing
    from wiseft_core.serve import uploads

    files = _files(count, side)
    preprocessing = Preprocessing(224, (0.48, 0.46, 0.41), (0.27, 0.26, 0.28))
    gc.collect()
    base_rss, base_peak = _rss_mb(), _peak_mb()
    decodes = 0
    if name == "before":
        held = [open_image_with_notes(io.BytesIO(f.getvalue()))[0] for f in files][:6]
        decodes = len(files)
        rerun = decodes
    else:
        memo = ImageMemo()
        for _ in range(2):  # the upload's run, then one rerun
            admitted, _ = uploads.admit(files, uploads.IMAGES)
            held = [memo.get(f.file_id, f.getvalue, f.name, lambda im: model_sized(im, preprocessing)).image
                    for f in admitted]
            memo.keep_only(f.file_id for f in admitted)
            decodes = decodes or len(memo.entries)
        rerun = 0
    gc.collect()
    return {"variant": name, "files": count, "upload_mb": round(sum(f.size for f in files) / 2**20, 2),
            "decodes": decodes, "rerun_decodes": rerun, "held_images": len(held),
            "peak_mb": round(max(0.0, _peak_mb() - base_peak), 1), "kept_mb": round(_rss_mb() - base_rss, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--side", type=int, default=6000)
    parser.add_argument("--child", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_variant(args.child, args.count, args.side)))
        return
    rows = []
    for variant in ("before", "after"):
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--count", str(args.count),
                              "--side", str(args.side)], capture_output=True, text=True, check=True, cwd=REPO)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
