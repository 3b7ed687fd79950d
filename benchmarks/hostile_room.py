"""What a hostile file costs the server before it is refused: peak RSS increase and CPU-seconds, by input size.

    python benchmarks/hostile_room.py [--json] [--checkout DIR] [--only NAME ...]

Each file-level hostile class of issue 20 is written to a temporary folder, then read in a *fresh*
subprocess (so one case's memory cannot hide another's) the way the server reads an upload:
``load_classifier`` for checkpoints; images as the Playground takes uploads (admitted by count and size
before decoding, each decoded once, only the model-sized copy kept). The subprocess reports its
resident set after imports, its peak resident set (VmHWM) after the attempt, and the CPU time of the
attempt alone. Goal (issue 20): no input of <= 10 MB raises RSS by more than 256 MB or costs more than
5 CPU-seconds.

Classes: the pickle-memo trick (one embedded 10 MiB legacy storage fed to torch's
``_load_from_bytes`` N times, 6 bytes a call), a 1 MiB legacy stream re-parsed 20,000 times, legacy
streams nested 6 deep, a 1M-element list turned into a set 10,000 times, a ~1 KB safetensors whose
config asks for a sin-cos positional embedding at image 1024 / patch 1, and 20 solid-colour
6000x6000 PNGs decoded one after the other (kept, as a page holding a viewer's uploads keeps them).
``--checkout DIR`` measures another checkout's ``wiseft_core`` (e.g. an older one, for a before/after);
its refusals may take much longer.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

# Runs in the fresh subprocess: argv = kind, paths...; prints one JSON line.
_WORKER = r"""
import json, resource, sys, time
def status(key):
    return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]) * 1024
kind, paths = sys.argv[1], sys.argv[2:]
from wiseft_core.errors import WiseftError
try:
    from wiseft_core.files import images
    from wiseft_core.files.reader import load_classifier
except ImportError:  # a checkout from before the subpackages
    from wiseft_core import images
    from wiseft_core.checkpoints import load_classifier
try:  # the app's own path for uploaded images: admitted by count and size, decoded once, the model-sized copy kept
    from types import SimpleNamespace
    from pathlib import Path
    from wiseft_core.files.models import Preprocessing
    from wiseft_core.serve import uploads
    def app_images(paths):
        files = [SimpleNamespace(name=Path(p).name, size=Path(p).stat().st_size, path=p) for p in paths]
        admitted, _ = uploads.admit(files, uploads.IMAGES)
        prep = Preprocessing(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic")
        memo = images.ImageMemo()
        return [memo.get(f.name, Path(f.path).read_bytes, f.name, lambda im: images.model_sized(im, prep)).image
                for f in admitted]
except ImportError:  # before the upload limits: every file decoded in full
    def app_images(paths):
        return [images.open_image(p) for p in paths]
base = status('VmRSS')
usage = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
outcome, kept = 'accepted', []
try:
    if kind == 'image':
        kept = app_images(paths)
    for path in paths if kind != 'image' else []:
        load_classifier(path)
except WiseftError as err:
    outcome = 'refused: ' + str(err).split(': ', 1)[-1][:90]
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
print(json.dumps({'rss_increase_mb': (status('VmHWM') - base) / 2**20, 'cpu_s': cpu,
                  'wall_s': time.perf_counter() - start, 'outcome': outcome}))
"""


def _checkpoint_cases(folder: Path) -> list[tuple[str, str, list[Path]]]:
    import torch
    from hostile.corpus import memo_storage_trick, nested_streams, reparse_stream, set_amplifier
    from safetensors.torch import save_file

    from wiseft_core.files.checkpoints import CheckpointMeta
    from wiseft_core.files.models import Preprocessing, model_config_of

    cases = []
    for calls in (1, 2, 150, 5000):
        path = folder / f"memo_{calls}.pt"
        path.write_bytes(memo_storage_trick(calls, numel=(10 << 20) // 4))
        cases.append((f"pickle memo trick, 10 MiB storage x {calls}", "checkpoint", [path]))
    path = folder / "reparse.pt"
    path.write_bytes(reparse_stream(20_000, size=1 << 20))
    cases.append(("1 MiB stream re-parsed 20,000x", "checkpoint", [path]))
    path = folder / "nested.pt"
    path.write_bytes(nested_streams(6))
    cases.append(("legacy streams nested 6 deep", "checkpoint", [path]))
    path = folder / "sets.pt"
    path.write_bytes(set_amplifier(1_000_000, 10_000))
    cases.append(("1M-element list -> set 10,000x", "checkpoint", [path]))
    config = model_config_of("ViT-B-32")
    config["vision_cfg"].update(pos_embed_type="sin_cos_2d", image_size=1024, patch_size=1, width=256)
    meta = CheckpointMeta(model_name="wiseft-sincos", model_config=config, pretrained=None,
                          classnames=["a", "b"], templates="openai",
                          preprocessing=Preprocessing(1024, (0.5,) * 3, (0.5,) * 3))
    path = folder / "sincos.safetensors"
    save_file({"head.weight": torch.zeros(2, 2)}, str(path), metadata={"wiseft": meta.to_json()})
    cases.append(("sin-cos config, image 1024 / patch 1", "checkpoint", [path]))
    return cases


def _image_case(folder: Path) -> tuple[str, str, list[Path]]:
    from PIL import Image

    paths = []
    for i in range(20):
        buffer = io.BytesIO()
        Image.new("RGB", (6000, 6000), (10 * i, 200 - 5 * i, 90)).save(buffer, "PNG")
        path = folder / f"solid_{i}.png"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return "20 solid-colour 6000x6000 PNGs", "image", paths


def measure(kind: str, paths: list[Path], checkout: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    result = subprocess.run([sys.executable, "-c", _WORKER, kind, *map(str, paths)], capture_output=True, text=True,
                            env=env, cwd=checkout, timeout=3600)
    if result.returncode != 0:
        return {"outcome": f"crashed ({result.returncode}): {result.stderr.strip().splitlines()[-1][:90]}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--checkout", type=Path, default=REPO, help="the checkout whose wiseft_core is measured")
    parser.add_argument("--only", nargs="*", default=None, help="cases whose name contains one of these words")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hostile-room-") as tmp:
        folder = Path(tmp)
        cases = _checkpoint_cases(folder) + [_image_case(folder)]
        for name, kind, paths in cases:
            if args.only and not any(word in name for word in args.only):
                continue
            size = sum(p.stat().st_size for p in paths)
            rows.append({"case": name, "input_bytes": size, **measure(kind, paths, args.checkout.resolve())})
            if not args.json:
                print(f"measured: {name}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'case':<40}{'input':>10}{'RSS +MB':>9}{'CPU s':>8}  outcome")
    for row in rows:
        size = row["input_bytes"]
        shown = f"{size / 2**20:.2f} MB" if size >= 1 << 20 else f"{size / 1024:.1f} KB"
        print(f"{row['case']:<40}{shown:>10}{row.get('rss_increase_mb', float('nan')):>9.0f}"
              f"{row.get('cpu_s', float('nan')):>8.2f}  {row['outcome'][:80]}")


if __name__ == "__main__":
    main()
