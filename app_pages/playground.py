"""Playground: move alpha and watch the interpolated classifier's predictions change, image by image."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
import torch
from PIL import Image

from app_pages.filmstrip import filmstrip, linked_images
from app_pages.lang import names_for, plot_labels, t
from app_pages.live_slider import live_slider, slider_texts
from app_pages.shared import admitted, current_alpha, live_pool, one_line_errors, set_alpha
from wiseft_core.demo.assets import DEMO_SAMPLES
from wiseft_core.demo.gallery import first_visit_keys, gallery_samples
from wiseft_core.engine.blocks import block_bands
from wiseft_core.engine.predict import to_batch
from wiseft_core.files.images import ImageMemo, model_sized
from wiseft_core.serve import alpha_grid, uploads, url_state
from wiseft_core.serve.builds import merged_checkpoint_bytes
from wiseft_core.serve.commands import interpolate_command
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.slider_data import (
    TOP_K,
    grid_probs,
    image_entry,
    released_alpha,
    slider_data,
    thumbnail_data_url,
)

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]
MAX_IMAGES = uploads.IMAGES.max_files
GALLERY_COLUMNS = 8
POLL_SECONDS = 1.0  # after each answer, how long a page waits to ask again while its charts fill in
MODES = {"weights": "playground.mode.weights", "outputs": "playground.mode.outputs"}  # keys in assets/i18n


@dataclass
class Sample:
    """One image on the page: a display name, its model-sized RGB copy, its true class when known."""

    name: str
    image: Image.Image
    label: str | None
    digest: str


@dataclass
class Candidate:
    """An image the viewer asked for, not decoded yet: the page counts these before decoding any."""

    name: str
    key: tuple  # identifies the file within the session (an upload's id, a gallery key, a link)
    data: Callable[[], bytes]
    label: str | None = None
    digest: str | None = None  # a fixed name (gallery key), else the hash of the bytes


def decode_all(candidates: list[Candidate], preprocessing) -> list[Sample]:
    """Decode each file once per session (and model input size), keeping only its model-sized copy.

    Messages (corrupt, empty, bomb, animated…) are shown on every rerun from what the first decode found.
    """
    memo = st.session_state.setdefault("_images", ImageMemo())
    size_key = repr(preprocessing.to_dict())
    samples = []
    for c in candidates:
        decoded = memo.get((c.key, size_key), c.data, c.name, lambda image: model_sized(image, preprocessing))
        if decoded.error:
            st.error(escape_markdown(decoded.error))
            continue
        for note in decoded.notes:  # an animation is worth a warning; a colour-mode conversion only a caption
            (st.warning if "animated" in note else st.caption)(escape_markdown(note))
        samples.append(Sample(c.name, decoded.image, c.label, c.digest or decoded.digest))
    memo.keep_only((c.key, size_key) for c in candidates)
    return samples


def uploaded_candidates() -> list[Candidate]:
    files = st.file_uploader(t("playground.upload"), type=IMAGE_TYPES,
                             accept_multiple_files=True, key="images_upload",
                             max_upload_size=uploads.IMAGES.max_file_bytes // uploads.MB)
    return [Candidate(f.name, ("upload", f.file_id), f.getvalue) for f in admitted(files, uploads.IMAGES)]


def gallery_choice(groups: dict) -> set[str]:
    """The picked gallery samples, read from each row's state before the rows are drawn.

    The gallery is drawn after the prediction so that a new upload's first answer does not wait for it;
    a row never touched follows the ``?sample=`` link, else the first visit's pick.
    """
    keys = {item.key for items in groups.values() for item in items[:GALLERY_COLUMNS]}
    linked = set(url_state.known_names(st.query_params.get("sample"), keys))
    if not linked:
        linked = set(first_visit_keys(groups))
    chosen = set()
    for distribution, items in groups.items():
        state = st.session_state.get(f"gallery_{distribution}")
        keys = [item.key for item in items[:GALLERY_COLUMNS]]
        chosen |= set(state or []) & set(keys) if state is not None else set(keys) & linked
    return chosen


def gallery_candidates(groups: dict, chosen: set[str]) -> list[Candidate]:
    name = plot_labels().name  # the demo's distributions and classes in the viewer's words
    picks = [Candidate(f"{name(distribution)}: {name(item.label or item.key)}", ("gallery", item.key),
                       item.path.read_bytes, item.label, item.key)
             for distribution, items in groups.items() for item in items[:GALLERY_COLUMNS] if item.key in chosen]
    st.query_params["sample"] = ",".join(p.digest for p in picks)
    return picks


def draw_gallery(groups: dict, chosen: set[str]) -> None:
    """One row per distribution: its samples, then a pill per sample (same order) to pick it.

    Three elements a row, not two per image: the browser redraws the whole page on an upload, and a
    gallery of ~100 elements delayed the new image's first answer.
    """
    if not groups:
        st.info(t("playground.no_gallery"))
        return
    shown = plot_labels().name
    for distribution, items in groups.items():
        items = items[:GALLERY_COLUMNS]
        names = {item.key: shown(item.label or item.key) for item in items}
        name, pictures, picker = st.columns([1.2, 2.6, 6.2], vertical_alignment="center")
        name.markdown(f"**{escape_markdown(shown(distribution))}**")
        pictures.image([str(item.path) for item in items], width=38)  # in the pills' order
        picker.pills(t("playground.pick", distribution=shown(distribution)), list(names), selection_mode="multi",
                  format_func=names.get, default=[key for key in names if key in chosen], key=f"gallery_{distribution}",
                  label_visibility="collapsed")


def camera_candidates() -> list[Candidate]:
    if not st.toggle(t("playground.use_camera"), key="use_camera"):
        return []
    shot = st.camera_input(t("playground.take_picture"), key="camera")
    return [Candidate("camera", ("camera", shot.file_id), shot.getvalue)
            for shot in admitted(shot, uploads.IMAGES)]


def block_alpha_controls(model: torch.nn.Module, alpha: float) -> list[tuple[str, float]]:
    """Per-block alpha: one slider per group (embeddings, bands of blocks, pooling, head) of ``model``'s parameters.

    The parameter names are listed only once the viewer turns the controls on: most slider releases never need them.
    """
    with st.expander(t("playground.per_block")):
        if not st.toggle(t("playground.per_block_toggle"), key="per_block"):
            return []
        st.caption(t("playground.per_block_caption"))
        block_alphas = []
        for label, blocks in block_bands(list(model.state_dict())).items():
            value = st.slider(t("playground.block_alpha", label=label), -0.5, 1.5,
                              float(min(max(alpha, -0.5), 1.5)), 0.05, key=f"block_alpha_{label}")
            block_alphas += [(block, round(value, 2)) for block in blocks]
        return block_alphas


@st.cache_resource(max_entries=16)
def timings_cache(pair_key: str) -> dict:
    return {}


def measured_times(context, pool, batch: torch.Tensor) -> dict[str, float] | None:
    """Milliseconds per prediction of each ensemble (best of 3), measured once per pair and batch size.

    Measured only once the grids are complete, so it never delays a first answer; shared by all viewers.
    """
    cache = timings_cache(context.key)
    key = tuple(batch.shape)
    if key not in cache:
        cache[key] = alpha_grid.ensemble_timings(pool, (context.pair.zeroshot.model, context.pair.finetuned.model),
                                                 batch)
    return cache[key]


def merge_download(context, alpha: float, block_alphas) -> None:
    pair = context.pair
    name = f"wiseft_alpha{alpha:g}.safetensors"

    def merged_bytes() -> bytes:
        return merged_checkpoint_bytes(pair, alpha, block_alphas)

    left, right = st.columns([1, 3])
    left.download_button(t("playground.download"), merged_bytes, file_name=name, mime="application/octet-stream",
                         key="merge_download", help=t("playground.download_help"))
    zeroshot_name = "zeroshot.safetensors" if context.zeroshot_command else context.zeroshot_name
    command = interpolate_command(zeroshot_name, context.finetuned_name, alpha, block_alphas, out=name)
    if context.zeroshot_command:
        command = context.zeroshot_command + "\n" + command
    right.code(command, language="bash", wrap_lines=True)


def shown_marker(alpha: float, mode: str, samples: list[Sample], probs: torch.Tensor) -> str:
    """Hidden elements carrying the exact probabilities this session was sent, one per image.

    Browser tests read them to check that each viewer sees its own alpha's numbers (the visible
    text is rounded to whole percents, too coarse to notice another alpha's weights).
    """
    return "".join(
        f'<span hidden data-wiseft-shown data-alpha="{alpha:g}" data-mode="{mode}" '
        f'data-image="{html.escape(sample.digest)}" '
        f'data-probs="{html.escape(json.dumps([round(float(p), 7) for p in row]))}"></span>'
        for sample, row in zip(samples, probs))


@st.cache_resource
def grid_store() -> alpha_grid.GridStore:
    return alpha_grid.GridStore()


@st.cache_resource
def grid_filler() -> alpha_grid.GridFiller:
    return alpha_grid.GridFiller()


def remember_alpha(key: str, low: float, high: float) -> None:
    """The live slider's callback: a valid released alpha becomes the session's before the fragment reruns."""
    alpha = released_alpha(st.session_state.get(key), low, high)
    if alpha is None:
        st.session_state["_slider_refused"] = t("playground.slider_refused", low=f"{low:g}", high=f"{high:g}")
    else:
        set_alpha(alpha)


def answer(context, pool, batch: torch.Tensor, grids, at: tuple, samples: list[Sample]):
    """The prediction at ``at`` = (alpha, mode, block alphas): one forward, or none on a polling rerun."""
    alpha, mode, block_alphas = at
    asked = (context.key, alpha, mode, tuple(block_alphas), tuple(s.digest for s in samples))
    last = st.session_state.get("_last_prediction")
    if last is not None and last[0] == asked:  # a polling rerun while the charts fill: nothing new to compute
        return last[1]
    pair = context.pair
    prediction = alpha_grid.logits_at(pool, (pair.zeroshot.model, pair.finetuned.model), batch, grids, alpha,
                                      mode, block_alphas)
    st.session_state["_last_prediction"] = (asked, prediction)
    return prediction


def show_times(slot, context, times: dict[str, float] | None, n: int) -> None:
    slot.caption(
        t("playground.times_head", n=n, device=context.device)
        + (t("playground.times_pending") if times is None else
           t("playground.times", weights=f"{times['weights']:.1f}", outputs=f"{times['outputs']:.1f}"))
        + t("playground.times_tail"))


def image_entries(samples: list[Sample], classnames: list[str], grids, probs: torch.Tensor, mode: str) -> list[dict]:
    """Each image's slider entry; its true label in the viewer's words (the demo's classes are translated)."""
    shown = plot_labels().name
    return [image_entry(sample.name, classnames.index(sample.label) if sample.label in classnames else None,
                        sample.label and shown(sample.label), thumbnail(sample), grid_probs(grid, mode), row, TOP_K)
            for sample, grid, row in zip(samples, grids, probs)]


def prediction_area(context, samples: list[Sample]) -> None:
    """Everything that depends on alpha: a slider release reruns only this fragment."""
    pair = context.pair
    classnames = pair.classnames
    alpha = current_alpha()
    top = st.columns([2, 3, 4], vertical_alignment="center")
    extrapolate = top[0].toggle(t("playground.extrapolate"), value=not 0.0 <= alpha <= 1.0, key="extrapolate",
                                help=t("playground.extrapolate_help"))
    low, high = (-0.5, 1.5) if extrapolate else (0.0, 1.0)
    alpha = round(min(max(alpha, low), high), 2)
    set_alpha(alpha)
    st.query_params["alpha"] = f"{alpha:g}"
    mode = top[1].radio(t("common.ensemble"), list(MODES), format_func=names_for(MODES, lambda m: t(MODES[m])),
                        horizontal=True, key="ensemble_mode")
    times_slot = top[2].empty()

    slider_slot = st.container()  # drawn above the per-block controls, computed after them
    block_alphas = block_alpha_controls(pair.zeroshot.model, alpha)
    key = f"live_alpha_{low}_{high}"
    shown = plot_labels().name  # class names in the viewer's words (the demo's; a model's own stay as they are)

    def mount(images: list[dict], pending: bool, markers: str) -> None:
        with slider_slot:
            live_slider({**slider_data(images, [shown(c) for c in classnames], alpha, low, high, mode,
                                       grid_usable=not block_alphas, pending=pending, top_k=TOP_K),
                         "text": slider_texts()}, alpha, key=key, on_change=lambda: remember_alpha(key, low, high),
                        poll_seconds=POLL_SECONDS)
            refused = st.session_state.pop("_slider_refused", None)
            if refused:
                st.warning(refused)
            st.html(markers)

    if not samples:  # the slider still mounts, so a first upload finds its code loaded in the browser
        mount([], pending=False, markers="<span hidden data-wiseft-shown-none></span>")
        with slider_slot:
            st.info(t("playground.nothing"))
        merge_download(context, alpha, block_alphas)
        return
    pool = live_pool(context.key, pair, context.device)
    batch = to_batch([s.image for s in samples], pair.preprocessing)
    store = grid_store()
    grids = [store.get((context.key, s.digest), len(classnames)) for s in samples]
    prediction = answer(context, pool, batch, grids, (alpha, mode, block_alphas), samples)
    probs = prediction.logits.softmax(dim=-1)
    pending = not all(g.complete for g in grids)

    images = image_entries(samples, classnames, grids, probs, mode)
    mount(images, pending=pending, markers=shown_marker(alpha, mode, samples, probs))
    filler = grid_filler()
    for i, grid in enumerate(grids):  # the answer is on its way: now the charts fill in, in the background
        filler.request(pool, batch[i:i + 1], grid)
    if not prediction.finite:
        slider_slot.warning(t("playground.nan", alpha=f"{alpha:g}"))

    show_times(times_slot, context, None if pending else measured_times(context, pool, batch), len(samples))
    merge_download(context, alpha, block_alphas)
    filmstrip(context, samples, alpha)


def thumbnail(sample: Sample) -> str:
    cache = st.session_state.setdefault("_thumbs", {})
    if sample.digest not in cache:
        cache[sample.digest] = thumbnail_data_url(sample.image)
    return cache[sample.digest]


st.title(t("playground.title"))
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info(t("common.no_pair"))
    st.stop()
st.caption(t("playground.formula"))
live_area = st.container()  # the slider and the predictions first: a presenter sees them without scrolling
tabs = st.tabs([t("playground.tab.gallery"), t("playground.tab.upload"), t("playground.tab.camera")])
with tabs[1]:
    uploaded = uploaded_candidates()
with tabs[2]:
    camera = camera_candidates()
groups = gallery_samples(DEMO_SAMPLES, context.pair.classnames)
chosen = gallery_choice(groups)
gallery = gallery_candidates(groups, chosen)
linked = [Candidate(ref, ("link", ref), lambda png=png: png, label)
          for ref, png, label in linked_images(context.pair.classnames)]
candidates = linked + uploaded + camera + gallery
if len(candidates) > MAX_IMAGES:  # counted before anything is decoded
    live_area.warning(t("playground.too_many", shown=MAX_IMAGES, total=len(candidates)))
    candidates = candidates[:MAX_IMAGES]
with live_area:
    samples = decode_all(candidates, context.pair.preprocessing)
with live_area:
    st.fragment(one_line_errors(prediction_area))(context, samples)
with tabs[0]:
    draw_gallery(groups, chosen)
