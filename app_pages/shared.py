"""Streamlit glue shared by every page: the sidebar's model pair, the cached pair, per-session state.

Concurrency: the loaded pair (both endpoint classifiers and their flat, read-only weight buffers)
is cached once per process with ``st.cache_resource`` and shared by every viewer; each browser
session gets its own live ``WeightInterpolator`` (one extra copy of the model) in
``st.session_state``, so one viewer's slider never changes another viewer's weights.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from wiseft_core import app_support
from wiseft_core.errors import WiseftError

UPLOAD_DIR = Path(tempfile.gettempdir()) / "wiseft_app_uploads"
ALPHA_KEY = "wiseft_alpha"  # the Playground's alpha, read by Curves to mark it on every curve
PAIR_SOURCES = {
    "demo": "Demo pair: end-to-end fine-tuned",
    "demo-linear": "Demo pair: linear-classifier fine-tuned",
    "openclip": "open_clip model + fine-tuned checkpoint",
    "files": "Two checkpoint files",
}
DEFAULT_ALPHA = 0.5


@dataclass
class PairContext:
    """What the pages need about the current pair: the shared pair, where it came from, and its device."""

    pair: object  # wiseft_core.pair.ClassifierPair
    key: str
    zeroshot_path: str
    finetuned_path: str
    device: str
    load_seconds: float
    zeroshot_command: str | None = None  # how to rebuild a zero-shot side that was built in the app


def launch_options() -> app_support.LaunchOptions:
    return app_support.parse_launch_args(sys.argv[1:])


def current_alpha() -> float:
    """The session's alpha: set by the Playground slider, seeded from ``?alpha=`` in the URL."""
    if ALPHA_KEY not in st.session_state:
        try:
            st.session_state[ALPHA_KEY] = float(st.query_params.get("alpha", DEFAULT_ALPHA))
        except ValueError:
            st.session_state[ALPHA_KEY] = DEFAULT_ALPHA
    return float(st.session_state[ALPHA_KEY])


def set_alpha(alpha: float) -> None:
    st.session_state[ALPHA_KEY] = float(alpha)


def file_stamp(path: str) -> tuple:
    """Cache key part that changes when a checkpoint file is replaced on disk."""
    p = Path(path)
    return (str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (str(p),)


@st.cache_resource(show_spinner="Loading the model pair (once for all viewers)…", max_entries=4)
def load_pair_cached(zeroshot_path: str, finetuned_path: str, device: str, trust_pickle: bool,
                     _stamp: tuple, stamp_key: str) -> tuple[object, float]:
    """Load a pair once per process; every session shares the result (read-only)."""
    from wiseft_core.pair import load_pair

    start = time.perf_counter()
    pair = load_pair(zeroshot_path, finetuned_path, device=device, trust_pickle=trust_pickle)
    return pair, time.perf_counter() - start


@st.cache_resource(show_spinner="Building the zero-shot head with open_clip…", max_entries=2)
def build_openclip_zeroshot(model_name: str, pretrained: str, finetuned_path: str, templates: str) -> str:
    """Build a zero-shot classifier for the fine-tuned checkpoint's classes and save it to a temp file."""
    from wiseft_core.checkpoints import read_meta
    from wiseft_core.zeroshot import build_zeroshot_checkpoint

    ft_meta = read_meta(finetuned_path)
    digest = hashlib.sha256(f"{model_name}|{pretrained}|{finetuned_path}|{templates}".encode()).hexdigest()[:16]
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    out = UPLOAD_DIR / f"zeroshot_{digest}.safetensors"
    build_zeroshot_checkpoint(model_name, ft_meta.classnames, templates, pretrained, out=out)
    return str(out)


def store_upload(upload) -> str:
    """Keep an uploaded checkpoint on disk under its content hash, so the pair cache can key on it."""
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:20]
    UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
    path = UPLOAD_DIR / f"{digest}{Path(upload.name).suffix or '.bin'}"
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def _pick_device(requested: str) -> str:
    if requested == "cuda" and not torch.cuda.is_available():
        st.sidebar.warning("CUDA was chosen but this machine has no CUDA device: using the CPU.")
        return "cpu"
    return requested


def _pair_request(options: app_support.LaunchOptions) -> tuple[str, str, str | None] | None:
    """Sidebar widgets -> (zero-shot path, fine-tuned path, rebuild command) or None if incomplete."""
    sources = list(PAIR_SOURCES)
    default = "files" if options.zeroshot and options.finetuned else (
        "demo" if app_support.demo_pair_available() else "files")
    source = st.sidebar.radio("Model pair", sources, index=sources.index(default),
                              format_func=PAIR_SOURCES.get, key="pair_source")
    if source == "demo":
        return str(app_support.DEMO_ZEROSHOT), str(app_support.DEMO_FINETUNED), None
    if source == "demo-linear":
        return str(app_support.DEMO_ZEROSHOT), str(app_support.DEMO_FINETUNED_LINEAR), None
    if source == "openclip":
        model_name = st.sidebar.text_input("open_clip model", "ViT-B-32", key="oc_model")
        pretrained = st.sidebar.text_input("pretrained tag or weights file ('none' = random)", "openai",
                                           key="oc_pretrained")
        templates = st.sidebar.selectbox("templates", ["openai", "simple"], key="oc_templates")
        finetuned = _checkpoint_input("Fine-tuned checkpoint", "oc_ft", options.finetuned)
        if not finetuned:
            return None
        zeroshot = build_openclip_zeroshot(model_name, pretrained, finetuned, templates)
        command = app_support.zeroshot_command(model_name, pretrained, templates, finetuned)
        return zeroshot, finetuned, command
    zeroshot = _checkpoint_input("Zero-shot checkpoint", "files_zs", options.zeroshot)
    finetuned = _checkpoint_input("Fine-tuned checkpoint", "files_ft", options.finetuned)
    if not (zeroshot and finetuned):
        return None
    return zeroshot, finetuned, None


def _checkpoint_input(label: str, key: str, default_path: str | None) -> str | None:
    """A local path, or an upload (stored under its hash); returns a path or None."""
    path = st.sidebar.text_input(f"{label} (path)", default_path or "", key=f"{key}_path").strip()
    upload = st.sidebar.file_uploader(f"…or upload the {label.lower()}", type=["safetensors", "pt", "pth", "bin"],
                                      key=f"{key}_upload")
    if upload is not None:
        return store_upload(upload)
    return path or None


def sidebar_pair() -> PairContext | None:
    """Render the sidebar's pair controls and return the loaded pair (or the last good one on error)."""
    options = launch_options()
    st.sidebar.header("Model pair")
    request = None
    try:
        request = _pair_request(options)
    except WiseftError as err:
        st.sidebar.error(str(err))
    devices = ["cpu", "cuda"]
    wanted = options.device if options.device in devices else ("cuda" if torch.cuda.is_available() else "cpu")
    device = _pick_device(st.sidebar.selectbox("Device", devices, index=devices.index(wanted), key="device"))
    trust_pickle = st.sidebar.checkbox(
        "Allow pickled .pt checkpoints (runs code from the file: only for files you trust)", key="trust_pickle")
    context = st.session_state.get("_pair_context")
    if request is not None:
        zeroshot, finetuned, command = request
        stamp = (file_stamp(zeroshot), file_stamp(finetuned))
        key = repr((stamp, device, trust_pickle))
        if context is None or context.key != key:
            try:
                pair, seconds = load_pair_cached(zeroshot, finetuned, device, trust_pickle, stamp, key)
                context = PairContext(pair=pair, key=key, zeroshot_path=zeroshot, finetuned_path=finetuned,
                                      device=device, load_seconds=seconds, zeroshot_command=command)
                st.session_state["_pair_context"] = context
            except WiseftError as err:
                st.sidebar.error(str(err))
                if context is not None:
                    st.sidebar.warning("Keeping the previously loaded pair.")
    elif context is None:
        st.sidebar.info("Choose two checkpoints to load a pair.")
    if context is not None:
        st.sidebar.caption(pair_summary(context))
    return context


def pair_summary(context: PairContext) -> str:
    from wiseft_core.models import count_parameters

    pair = context.pair
    meta = pair.zeroshot.meta
    params = count_parameters(pair.zeroshot.model)
    return (f"**{meta.model_name}** · {params / 1e6:.2f} M parameters · {len(pair.classnames)} classes · "
            f"{context.device} · loaded in {context.load_seconds:.2f} s")


def interpolator_for(context: PairContext):
    """This session's own live model (a copy of the weights), made once per session and pair."""
    held = st.session_state.get("_interpolator")
    if held is None or held[0] != context.key:
        held = (context.key, context.pair.new_interpolator(context.device), {"alpha": None})
        st.session_state["_interpolator"] = held
    return held[1], held[2]
