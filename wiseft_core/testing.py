"""Test fixtures shared by the tests and the benchmarks: a tiny open_clip config and a random pair on disk.

Random weights only (``pretrained=None``): nothing here downloads anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

TINY_TEST_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TEST_CLASSNAMES = ["circle", "square", "triangle", "plus", "ring", "diamond", "star", "bar", "crescent", "semicircle"]


def write_random_pair(out_dir: str | Path, model_name: str = "wiseft-tiny-test", model_config: dict | None = None,
                      classnames: Sequence[str] = TEST_CLASSNAMES, seed: int = 0) -> tuple[Path, Path]:
    """A random-weight zero-shot checkpoint and a perturbed "fine-tuned" one, for tests and benchmarks.

    The fine-tuned head is the zero-shot head with its classes rotated by one (plus noise on every
    weight), so the top-1 class is guaranteed to move between alpha 0 and 1. No download: the
    weights are random (``pretrained=None``). ``model_config`` defaults to a tiny ViT for fast
    tests; pass ``model_config=None`` with a real name (``ViT-B-32``) for its true size.
    """
    import torch

    from wiseft_core.files.checkpoints import save_classifier
    from wiseft_core.train.zeroshot import build_zeroshot_checkpoint

    if model_config is None and model_name == "wiseft-tiny-test":
        model_config = TINY_TEST_CONFIG
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zeroshot, finetuned = out_dir / "zeroshot.safetensors", out_dir / "finetuned.safetensors"
    built = build_zeroshot_checkpoint(model_name, classnames, "openclip-simple", seed=seed, model_config=model_config,
                                      out=zeroshot)
    classifier, meta = built.classifier, built.meta
    generator = torch.Generator().manual_seed(seed + 1)
    theta = {}
    for name, tensor in classifier.state_dict().items():
        if name.startswith("head.weight"):
            tensor = tensor.roll(1, dims=0)
        if tensor.is_floating_point():
            tensor = tensor + 0.02 * tensor.std().nan_to_num(0.0) * torch.randn(tensor.shape, generator=generator)
        theta[name] = tensor
    save_classifier(finetuned, theta, meta)
    return zeroshot, finetuned


REPO = Path(__file__).resolve().parent.parent  # a checkout: where app.py and the test scripts are

# A real app server and the browser that drives it, for the browser tests and the browser benchmarks.
CHROMIUM = os.environ.get("WISEFT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(script: str | Path, log: Path, app_args: list[str] = (), startup_s: float = 90) -> Iterator[str]:
    """A real ``streamlit run SCRIPT`` on 127.0.0.1 (a free port); yields its base URL, stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", "127.0.0.1",
               "--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    if app_args:
        command += ["--", *app_args]
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
