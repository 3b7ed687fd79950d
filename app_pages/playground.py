"""Playground: move alpha and watch the interpolated classifier's predictions change, image by image."""

from __future__ import annotations

import hashlib
import html
import io
import json
from dataclasses import dataclass

import streamlit as st
import torch
from PIL import Image

from app_pages.shared import current_alpha, interpolator_for, set_alpha
from wiseft_core import alpha_grid
from wiseft_core.blocks import block_bands
from wiseft_core.checkpoints import checkpoint_bytes
from wiseft_core.commands import interpolate_command
from wiseft_core.demo.assets import DEMO_SAMPLES
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.errors import WiseftError
from wiseft_core.images import open_image_with_notes
from wiseft_core.markup import escape_markdown
from wiseft_core.plots import probability_vs_alpha_figure, top_k_figure
from wiseft_core.predict import to_batch, top_k
from wiseft_core.timer import timed

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]
MAX_IMAGES = 6
TOP_K = 5
MODES = {"weights": "weight space (WiSE-FT)", "outputs": "output space (mix logits)"}


@dataclass
class Sample:
    """One image on the page: a display name, the decoded RGB image, its true class when known."""

    name: str
    image: Image.Image
    label: str | None
    digest: str


def decode(name: str, data: bytes, label: str | None = None) -> Sample | None:
    """Decode an image, showing the core's message (corrupt, empty, bomb, …) instead of crashing."""
    handle = io.BytesIO(data)
    handle.name = name  # the core's messages name the file
    try:
        image, notes = open_image_with_notes(handle)
    except WiseftError as err:
        st.error(escape_markdown(err))
        return None
    for note in notes:  # an animation is worth a warning; a colour-mode conversion only a caption
        (st.warning if "animated" in note else st.caption)(escape_markdown(note))
    return Sample(name, image, label, hashlib.sha256(data).hexdigest()[:20])


def uploaded_samples() -> list[Sample]:
    files = st.file_uploader("Upload images (JPEG, PNG, WebP, BMP, GIF; several at once)", type=IMAGE_TYPES,
                             accept_multiple_files=True, key="images_upload", max_upload_size=50)
    samples = [decode(f.name, f.getvalue()) for f in files or []]
    return [s for s in samples if s is not None]


def gallery_picks(classnames: list[str]) -> list[Sample]:
    """One row per distribution of the demo world's samples; tick images to predict on them."""
    groups = gallery_samples(DEMO_SAMPLES, classnames)
    if not groups:
        st.info("No sample gallery: the demo world's samples (assets/demo/samples/) are not present.")
        return []
    linked = set(filter(None, st.query_params.get("sample", "").split(",")))
    if not linked:  # first visit on a pair that knows these classes: one reference and one shifted sample
        firsts = [items[0].key for items in groups.values() if items[0].label is not None]
        linked = set(firsts[:1] + firsts[2:3])
    picks = []
    for distribution, items in groups.items():
        columns = st.columns([1.2] + [1] * 8, vertical_alignment="center")
        columns[0].markdown(f"**{escape_markdown(distribution)}**")
        for column, item in zip(columns[1:], items[:8]):
            column.image(str(item.path), width=56)
            if column.checkbox(escape_markdown(item.label or item.key), value=item.key in linked,
                               key=f"gallery_{item.key}"):
                sample = decode(f"{distribution}: {item.label or item.key}", item.path.read_bytes(), item.label)
                if sample is not None:
                    sample.digest = item.key
                    picks.append(sample)
    st.query_params["sample"] = ",".join(p.digest for p in picks)
    return picks


def camera_sample() -> list[Sample]:
    if not st.toggle("Use the camera", key="use_camera"):
        return []
    shot = st.camera_input("Take a picture", key="camera")
    return [s for s in [decode("camera", shot.getvalue())] if s] if shot is not None else []


@st.cache_data(show_spinner="Computing probabilities over 21 alphas (once per image and pair)…", max_entries=512)
def grid_logits(pair_key: str, digest: str, _interpolator, _batch: torch.Tensor) -> torch.Tensor:
    """[21 alphas, classes] logits of one image; cached across sessions by (pair, image content)."""
    return alpha_grid.compute_alpha_grid(_interpolator, _batch).logits[:, 0]


def block_alpha_controls(param_names: list[str], alpha: float) -> list[tuple[str, float]]:
    """Per-block alpha: one slider per group (embeddings, bands of blocks, pooling, head)."""
    with st.expander("Per-block α (advanced)"):
        if not st.toggle("Set α per block group", key="per_block"):
            return []
        st.caption("Each group's α overrides the global one for its parameters (patterns as in "
                   "`wiseft interpolate --block-alpha`).")
        block_alphas = []
        for label, blocks in block_bands(param_names).items():
            value = st.slider(f"α for {label}", -0.5, 1.5, float(min(max(alpha, -0.5), 1.5)), 0.05,
                              key=f"block_alpha_{label}")
            block_alphas += [(block, round(value, 2)) for block in blocks]
        return block_alphas


def measured_times(context, interpolator, batch: torch.Tensor, alpha: float, block_alphas) -> dict[str, float]:
    """Milliseconds per prediction of each ensemble, measured live (best of 3) once per pair and batch size."""
    key = (context.key, tuple(batch.shape))
    cache = st.session_state.setdefault("_timings", {})
    if key not in cache:
        pair = context.pair
        _, weights_ms = timed(
            lambda: alpha_grid.live_weight_space_logits(interpolator, batch, alpha, block_alphas), repeats=3)
        _, outputs_ms = timed(
            lambda: alpha_grid.output_space_logits(pair.zeroshot.model, pair.finetuned.model, batch, alpha),
            repeats=3)
        cache[key] = {"weights": weights_ms, "outputs": outputs_ms}
    return cache[key]


def merge_download(context, alpha: float, block_alphas) -> None:
    pair = context.pair
    name = f"wiseft_alpha{alpha:g}.safetensors"

    def merged_bytes() -> bytes:
        return checkpoint_bytes(*pair.merged_checkpoint(alpha, block_alphas))

    left, right = st.columns([1, 3])
    left.download_button("Download this merge", merged_bytes, file_name=name, mime="application/octet-stream",
                         key="merge_download", help="safetensors, with the recipe (alpha, block alphas, the "
                         "endpoints' SHA-256) in its metadata")
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


@st.fragment
def prediction_area(context, samples: list[Sample]) -> None:
    """Everything that depends on alpha: moving the slider reruns only this fragment."""
    pair = context.pair
    interpolator, _ = interpolator_for(context)
    alpha = current_alpha()
    top = st.columns([4, 2, 3])
    extrapolate = top[1].toggle("Extrapolate", value=not 0.0 <= alpha <= 1.0, key="extrapolate",
                                help="Extend the slider to −0.5 … 1.5: α < 0 moves away from the fine-tuned "
                                "model, α > 1 goes beyond it.")
    low, high = (-0.5, 1.5) if extrapolate else (0.0, 1.0)
    alpha = top[0].slider("α  (0 = zero-shot, 1 = fine-tuned)", low, high, float(min(max(alpha, low), high)), 0.05,
                          key=f"alpha_slider_{low}_{high}")
    alpha = round(float(alpha), 2)
    set_alpha(alpha)
    st.query_params["alpha"] = f"{alpha:g}"
    mode = top[2].radio("Ensemble", list(MODES), format_func=MODES.get, horizontal=True, key="ensemble_mode")
    block_alphas = block_alpha_controls(list(pair.zeroshot.model.state_dict()), alpha)

    batch = to_batch([s.image for s in samples], pair.preprocessing)
    grids = torch.stack([grid_logits(context.key, s.digest, interpolator, batch[i:i + 1])
                         for i, s in enumerate(samples)], dim=1)  # [alphas, images, classes]
    grid = alpha_grid.AlphaGrid(alpha_grid.ALPHA_GRID, grids)
    if mode == "outputs":
        logits, _ = timed(lambda: grid.output_space_logits(alpha))
        grid_probs = grid.output_space_probs_over_grid()
    else:
        cached = None if block_alphas else grid.weight_space_logits(alpha)
        if cached is not None:
            logits = cached
        else:
            logits = alpha_grid.live_weight_space_logits(interpolator, batch, alpha, block_alphas)
        grid_probs = grid.probs()
    probs = logits.softmax(dim=-1)
    if not torch.isfinite(logits).all():
        st.warning(f"At α = {alpha:g} the model's outputs are undefined (NaN): extrapolating BatchNorm statistics "
                   "this far makes some running variances negative. Try an α closer to [0, 1].")
    st.html(shown_marker(alpha, mode, samples, probs))

    times = measured_times(context, interpolator, batch, alpha, block_alphas)
    n = len(samples)
    st.caption(
        f"Measured per prediction of {n} image{'s' * (n > 1)} on {context.device}: "
        f"**weight space {times['weights']:.1f} ms** (set α + one forward) · "
        f"**output space {times['outputs']:.1f} ms** (two forwards + mix). "
        "WiSE-FT is one model: no extra inference cost.")

    classnames = pair.classnames
    plot_names = [html.escape(c) for c in classnames]  # Plotly renders <a>, <b>… in text
    for i, sample in enumerate(samples):
        st.markdown(f"#### {escape_markdown(sample.name)}"
                    + (f" — true label: **{escape_markdown(sample.label)}**" if sample.label else ""))
        best, best_p = top_k(probs[i], classnames, 1)[0]
        verdict = "" if sample.label is None else (" ✓" if best == sample.label else " ✗")
        st.markdown(f"Prediction at α = {alpha:g}: **{escape_markdown(best)}** ({best_p:.0%}){verdict}")
        cols = st.columns([1, 1.3, 1.3, 1.3])
        cols[0].image(sample.image, width="stretch")
        ends = {0.0: grid_probs[alpha_grid.grid_index(0.0)][i], 1.0: grid_probs[alpha_grid.grid_index(1.0)][i]}
        endpoint_figures = st.session_state.setdefault("_endpoint_figures", {})  # fixed while α moves
        rows = [("α = 0 (zero-shot)", ends[0.0]), (f"α = {alpha:g}", probs[i]), ("α = 1 (fine-tuned)", ends[1.0])]
        for j, (col, (label, row)) in enumerate(zip(cols[1:], rows)):
            cache_key = (context.key, sample.digest, mode, label)
            figure = endpoint_figures.get(cache_key)
            if figure is None:
                figure = top_k_figure(top_k(row, plot_names, TOP_K), label,
                                      html.escape(sample.label) if sample.label else None)
            if j != 1:
                endpoint_figures[cache_key] = figure
            col.plotly_chart(figure, key=f"topk_{i}_{j}", config={"displayModeBar": False})
        st.plotly_chart(probability_vs_alpha_figure(
            grid.alphas, grid_probs[:, i].numpy(), plot_names, current_alpha=alpha,
            true_label=html.escape(sample.label) if sample.label else None),
            key=f"prob_alpha_{i}", config={"displayModeBar": False})
    st.divider()
    merge_download(context, alpha, block_alphas)


st.title("Playground")
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info("Load a model pair in the sidebar first.")
    st.stop()
st.caption("θ(α) = (1 − α)·θ_zero-shot + α·θ_fine-tuned, computed live for this session only.")
tabs = st.tabs(["Gallery", "Upload", "Camera"])
with tabs[0]:
    gallery = gallery_picks(context.pair.classnames)
with tabs[1]:
    uploads = uploaded_samples()
with tabs[2]:
    camera = camera_sample()
samples = uploads + camera + gallery
if len(samples) > MAX_IMAGES:
    st.warning(f"Showing the first {MAX_IMAGES} of {len(samples)} images.")
    samples = samples[:MAX_IMAGES]
if not samples:
    st.info("Pick a sample from the gallery, upload an image or take a picture.")
    st.stop()
prediction_area(context, samples)
