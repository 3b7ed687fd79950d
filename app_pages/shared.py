"""Streamlit glue shared by every page: the sidebar's model pair, the cached pair, per-session state.

Concurrency: the loaded pair (both endpoint classifiers and their flat, read-only weight buffers)
is cached once per process with ``st.cache_resource`` and shared by every viewer; the Playground
serves grid alphas from shared grids and leases a live model from a small shared pool for the rest,
so a room costs O(1) model copies and no viewer's forward reads weights another viewer is writing.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app_pages.lang import names_for, t
from wiseft_core.demo.assets import DEMO_FINETUNED, DEMO_FINETUNED_LINEAR, DEMO_ZEROSHOT, demo_pair_available
from wiseft_core.devices import default_viewer_device, viewer_device
from wiseft_core.engine.alphas import DEFAULT_ALPHA
from wiseft_core.errors import WiseftError
from wiseft_core.files.zeroshot import TEMPLATE_SETS, parse_classnames
from wiseft_core.serve import app_launch, uploads, url_state
from wiseft_core.serve.commands import zeroshot_command
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.interpolator_pool import InterpolatorPool
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.uploads import UploadStore

LOG = logging.getLogger("wiseft.app")
ALPHA_KEY = "wiseft_alpha"  # the Playground's alpha, read by Curves to mark it on every curve
PAIR_SOURCES = {
    "demo": "Demo pair: end-to-end fine-tuned",
    "demo-linear": "Demo pair: linear-classifier fine-tuned",
    "openclip": "open_clip model + fine-tuned checkpoint",
    "files": "Two checkpoint files",
}
NO_FILE = "(none)"
UPLOAD_CAP_BYTES = 4 << 30  # all sessions' uploads together
UPLOAD_IDLE_SECONDS = 3600.0
SESSION_UPLOAD_CAP_BYTES = 2 << 30  # one viewer's checkpoints on disk (a pair of the largest the global cap allows)


@dataclass
class PairContext:
    """What the pages need about the current pair: the shared pair, where it came from, and its device."""

    pair: object  # wiseft_core.engine.pair.ClassifierPair
    key: str
    zeroshot_path: str
    finetuned_path: str
    device: str
    load_seconds: float
    zeroshot_command: str | None = None  # how to rebuild a zero-shot side that was built in the app
    zeroshot_name: str = ""  # what the viewer chose (a listed name or an upload's name), for messages
    finetuned_name: str = ""


def one_line_errors(render: Callable) -> Callable:
    """``render`` that shows one line (and logs the traceback) on an unexpected error.

    For fragments: their reruns happen outside the page-wide guard in ``app.py``.
    """
    @functools.wraps(render)
    def guarded(*args, **kwargs):
        try:
            return render(*args, **kwargs)
        except Exception:  # Streamlit's stop/rerun signals are not Exceptions and pass
            LOG.exception("%s failed", render.__name__)
            st.error(t("app.page_failed"))

    return guarded


def launch_options() -> app_launch.LaunchOptions:
    return app_launch.parse_launch_args(sys.argv[1:])


def dataset_picker(container, default: str, key: str) -> str:
    """A labelled dataset for an on-demand computation: the demo world's or the operator's ``--data-dir``."""
    choices = app_launch.dataset_choices(launch_options())
    names = list(choices)
    name = container.selectbox(t("sidebar.dataset"), names,
                               index=names.index(default) if default in names else 0, key=key)
    return choices[name]


def current_alpha() -> float:
    """The session's alpha: set by the Playground slider, seeded from ``?alpha=`` in the URL (checked)."""
    alpha = url_state.checked_alpha(st.session_state.get(ALPHA_KEY))
    if alpha is None:
        alpha = st.session_state[ALPHA_KEY] = url_state.alpha_param(st.query_params.get("alpha"), DEFAULT_ALPHA)
    return alpha


def set_alpha(alpha: object) -> bool:
    """Make ``alpha`` the session's if it is a finite alpha in the widest slider range; False (unchanged) if not."""
    checked = url_state.checked_alpha(alpha)
    if checked is not None:
        st.session_state[ALPHA_KEY] = checked
    return checked is not None


@st.cache_resource(show_spinner="Loading the model pair (once for all viewers)…", max_entries=4)
def load_pair_cached(zeroshot_path: str, finetuned_path: str, device: str, trust_pickle: bool,
                     stamp: tuple, classnames: tuple[str, ...] | None = None) -> tuple[object, float]:
    """Load a pair once per process; every session shares the result (read-only).

    ``classnames`` name the classes of a zero-shot file that stores none (a wise-ft file).
    """
    from wiseft_core.engine.pair import load_pair

    start = time.perf_counter()
    pair = load_pair(zeroshot_path, finetuned_path, device=device, trust_pickle=trust_pickle,
                     classnames=None if classnames is None else list(classnames))
    return pair, time.perf_counter() - start


@st.cache_resource(max_entries=4)
def live_pool(pair_key: str, _pair, device: str) -> InterpolatorPool:
    """The room's live models for this pair: at most ``--live-models`` copies, whatever the number of viewers.

    The first one is built in the background as soon as the pair is loaded, at the default alpha, so a
    viewer's first answer costs one forward, not the construction of a model and a ``set_alpha``.
    """
    pool = InterpolatorPool(lambda: _pair.new_interpolator(device), size=launch_options().live_models)
    threading.Thread(target=pool.warm, args=(1, DEFAULT_ALPHA), name="wiseft-pool-warm", daemon=True).start()
    return pool


@st.cache_resource
def upload_store() -> UploadStore:
    """One store per server process: private per-session folders, a total cap, idle clean-up."""
    return UploadStore(total_cap_bytes=UPLOAD_CAP_BYTES, idle_seconds=UPLOAD_IDLE_SECONDS,
                       session_cap_bytes=SESSION_UPLOAD_CAP_BYTES)


def admitted(files, limit: uploads.UploadLimit, container=st) -> list:
    """The uploads of a widget within ``limit`` (checked on the server, before anything is read); a line per refusal.

    ``files`` is what ``st.file_uploader`` returned (None, one file or a list).
    """
    if files is None:
        return []
    kept, refused = uploads.admit(files if isinstance(files, list) else [files], limit)
    for line in refused:
        container.warning(escape_markdown(line))
    return kept


@st.cache_resource
def built_models_dir() -> Path:
    """Where zero-shot heads built in the app are written: a process-private folder (0700)."""
    return Path(tempfile.mkdtemp(prefix="wiseft-built-"))


class _SessionUploads:
    """Lives in ``st.session_state``: when Streamlit drops the session, its uploads are deleted."""

    def __init__(self, store: UploadStore) -> None:
        self.id = uuid.uuid4().hex
        weakref.finalize(self, store.release, self.id)


def session_uploads_id() -> str:
    store = upload_store()
    holder = st.session_state.get("_uploads")
    if holder is None:
        holder = st.session_state["_uploads"] = _SessionUploads(store)
    store.touch(holder.id)
    return holder.id


def store_upload(upload, slot: str) -> str:
    """Stream an upload into this session's private folder (once per upload); returns its server path."""
    store = upload_store()
    session = session_uploads_id()
    tag = f"{upload.file_id}:{upload.size}"
    kept = store.lookup(session, slot, tag)
    if kept is not None:
        return str(kept)
    return str(store.store(session, slot, upload.name, upload, upload.size, tag=tag))


@st.cache_resource(show_spinner="Building the zero-shot head with open_clip…", max_entries=2)
def build_openclip_zeroshot(model_name: str, pretrained: str, finetuned_path: str, templates: str) -> str:
    """Build a zero-shot classifier for the fine-tuned checkpoint's classes and save it to a private folder."""
    from wiseft_core.files.checkpoints import read_meta
    from wiseft_core.serve.builds import build_zeroshot_file

    digest = hashlib.sha256(f"{model_name}|{pretrained}|{finetuned_path}|{templates}".encode()).hexdigest()[:16]
    out = built_models_dir() / f"zeroshot_{digest}.safetensors"
    return str(build_zeroshot_file(model_name, pretrained, read_meta(finetuned_path).classnames, templates, out))


def _pick_device(requested: str) -> str:
    device, fell_back = viewer_device(requested)
    if fell_back:
        st.sidebar.warning(t("sidebar.no_cuda"))
    return device


@dataclass
class Choice:
    """A checkpoint a viewer chose: its server path, the name shown for it, and whether it is an upload."""

    path: str
    name: str
    uploaded: bool = False


def _pair_request(options: app_launch.LaunchOptions) -> tuple[Choice, Choice, str | None] | None:
    """Sidebar widgets -> (zero-shot, fine-tuned, rebuild command) or None if incomplete."""
    sources = list(PAIR_SOURCES)
    default = "files" if options.zeroshot and options.finetuned else (
        "demo" if demo_pair_available() else "files")
    source = st.sidebar.radio(t("sidebar.pair_header"), sources, index=sources.index(default),
                              format_func=names_for(sources, lambda s: t(f"sidebar.source.{s}")), key="pair_source")
    if source in ("demo", "demo-linear"):
        finetuned = DEMO_FINETUNED if source == "demo" else DEMO_FINETUNED_LINEAR
        return Choice(str(DEMO_ZEROSHOT), DEMO_ZEROSHOT.name), Choice(str(finetuned), finetuned.name), None
    if source == "openclip":
        return _openclip_request(options)
    zeroshot = _checkpoint_input(t("sidebar.zeroshot_checkpoint"), "files_zs", options, options.zeroshot)
    finetuned = _checkpoint_input(t("sidebar.finetuned_checkpoint"), "files_ft", options, options.finetuned)
    if not (zeroshot and finetuned):
        return None
    return zeroshot, finetuned, None


def classnames_input(options: app_launch.LaunchOptions) -> tuple[str, ...] | None:
    """Class names for a checkpoint that stores none (a wise-ft file): one of the operator's ``.txt`` files or
    an upload (one name a line, UTF-8). None: the file's own names (or ImageNet's for a 1000-class head)."""
    with st.sidebar.expander(t("sidebar.classnames")):
        files = app_launch.classname_files(options)
        names = [NO_FILE, *files]
        name = st.selectbox(t("sidebar.classnames_file"), names, key="classnames_file",
                            help=t("sidebar.classnames_help"))
        upload = admitted(st.file_uploader(t("sidebar.classnames_upload"),
                                           type=["txt"], key="classnames_upload",
                                           max_upload_size=uploads.CLASS_NAMES.max_file_bytes // uploads.MB),
                          uploads.CLASS_NAMES)
        if upload:
            return tuple(parse_classnames(upload[0].getvalue(), upload[0].name))
        if name == NO_FILE:
            return None
        path = files[name]
        if path.stat().st_size > uploads.CLASS_NAMES.max_file_bytes:
            raise WiseftError(f"{name}: larger than {uploads.CLASS_NAMES.max_file_bytes // uploads.MB} MB")
        return tuple(parse_classnames(path.read_bytes(), name))



def _openclip_request(options: app_launch.LaunchOptions) -> tuple[Choice, Choice, str | None] | None:
    """An open_clip architecture by name, its pretrained weights by tag or from the operator's folders."""
    import open_clip

    names = sorted(open_clip.list_models())
    model_name = st.sidebar.selectbox(t("sidebar.openclip_model"), names, index=names.index("ViT-B-32")
                                      if "ViT-B-32" in names else 0, key="oc_model")
    files = app_launch.model_files(options)
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    weights = ["none", *tags, *(f"file: {name}" for name in files)]
    pretrained = st.sidebar.selectbox(t("sidebar.pretrained"), weights,
                                      index=weights.index("openai") if "openai" in weights else 0,
                                      key="oc_pretrained")
    if pretrained.startswith("file: "):
        pretrained = str(app_launch.resolve_model_file(pretrained[len("file: "):], options))
    templates = st.sidebar.selectbox(t("sidebar.templates"), list(TEMPLATE_SETS), key="oc_templates")
    finetuned = _checkpoint_input(t("sidebar.finetuned_checkpoint"), "oc_ft", options, options.finetuned)
    if not finetuned:
        return None
    zeroshot = build_openclip_zeroshot(model_name, pretrained, finetuned.path, templates)
    command = zeroshot_command(model_name, Path(pretrained).name if pretrained.startswith("/") else pretrained,
                               templates, finetuned.name)
    return Choice(zeroshot, f"{model_name} zero-shot"), finetuned, command


def _checkpoint_input(label: str, key: str, options: app_launch.LaunchOptions,
                      default_path: str | None) -> Choice | None:
    """One of the operator's checkpoints (by name), or an upload kept in this session's private folder."""
    files = app_launch.model_files(options)
    names = [NO_FILE, *files]
    default = Path(default_path).name if default_path else NO_FILE
    name = st.sidebar.selectbox(t("sidebar.on_server", label=label), names,
                                index=names.index(default) if default in names else 0, key=f"{key}_file",
                                help=t("sidebar.on_server_help"))
    upload = st.sidebar.file_uploader(t("sidebar.or_upload", label=label.lower()),
                                      type=["safetensors", "pt", "pth", "bin"], key=f"{key}_upload")
    kept = admitted(upload, uploads.CHECKPOINT, st.sidebar)
    if kept:
        return Choice(store_upload(kept[0], key), kept[0].name, uploaded=True)
    if name == NO_FILE:
        return None
    return Choice(str(app_launch.resolve_model_file(name, options)), name)


def _viewer_message(err: Exception, *choices: Choice) -> str:
    """The library's message with server paths replaced by the names the viewer chose."""
    message = str(err)
    for choice in choices:
        message = message.replace(choice.path, choice.name)
    head, flag, _ = message.partition(": pass --classnames")  # a viewer has no command line
    return f"{head}: choose or upload its class names under “Class names” below" if flag else message


def sidebar_pair() -> PairContext | None:
    """Render the sidebar's pair controls and return the loaded pair (or the last good one on error)."""
    options = launch_options()
    st.sidebar.header(t("sidebar.pair_header"))
    request = None
    try:
        chosen = _pair_request(options)
        if chosen is not None:  # complete only with its class names (a bad class-name file keeps the last pair)
            files = st.session_state.get("pair_source") == "files"
            request = (*chosen, classnames_input(options) if files else None)
    except WiseftError as err:
        st.sidebar.error(escape_markdown(err))
    except OSError:  # e.g. an upload that could not be written: no server path in the message
        LOG.exception("storing an upload failed")
        st.sidebar.error(t("sidebar.upload_failed"))
    devices = ["cpu", "cuda"]
    wanted = default_viewer_device(options.device)
    device = _pick_device(st.sidebar.selectbox(t("sidebar.device"), devices, index=devices.index(wanted), key="device"))
    if options.trust_pickle:
        st.sidebar.warning(t("sidebar.trust_pickle"))
    context = st.session_state.get("_pair_context")
    if request is not None:
        zeroshot, finetuned, command, classnames = request
        trust_pickle = options.may_unpickle(zeroshot.uploaded, finetuned.uploaded)
        stamp = (file_stamp(zeroshot.path), file_stamp(finetuned.path))
        key = repr((stamp, device, trust_pickle, classnames))
        if context is None or context.key != key:
            try:
                pair, seconds = load_pair_cached(zeroshot.path, finetuned.path, device, trust_pickle, stamp,
                                                 classnames)
                context = PairContext(pair=pair, key=key, zeroshot_path=zeroshot.path,
                                      finetuned_path=finetuned.path, device=device, load_seconds=seconds,
                                      zeroshot_command=command, zeroshot_name=zeroshot.name,
                                      finetuned_name=finetuned.name)
                st.session_state["_pair_context"] = context
                live_pool(key, pair, device)  # starts building the first live model
            except Exception as err:  # a viewer gets one line, the server log the traceback
                if not isinstance(err, WiseftError):
                    LOG.exception("loading %s + %s failed", zeroshot.path, finetuned.path)
                    err = WiseftError(t("sidebar.load_failed", zeroshot=zeroshot.name, finetuned=finetuned.name))
                st.sidebar.error(escape_markdown(_viewer_message(err, zeroshot, finetuned)))
                if context is not None:
                    st.sidebar.warning(t("sidebar.keeping_pair"))
    elif context is None:
        st.sidebar.info(t("sidebar.choose_two"))
    if context is not None:
        st.sidebar.caption(pair_summary(context))
    return context


def pair_summary(context: PairContext) -> str:
    from wiseft_core.files.models import count_parameters

    pair = context.pair
    meta = pair.zeroshot.meta
    params = count_parameters(pair.zeroshot.model)
    return t("sidebar.summary", name=escape_markdown(meta.model_name), params=f"{params / 1e6:.2f}",
             classes=len(pair.classnames), device=context.device, seconds=f"{context.load_seconds:.2f}")
