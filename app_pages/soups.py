"""Soups: mix several fine-tunes of one start (model soups), see the mix's predictions, and the plane of three."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
import torch
from PIL import Image

from app_pages.shared import launch_options
from app_pages.soup_plane_job import your_plane_section
from wiseft_core.demo.assets import DEMO_DIR, DEMO_SAMPLES
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.demo.soup_results import read_results_csv, results_table, soup_findings
from wiseft_core.demo.soups import PLANE_CSV, RESULTS_CSV, SUBDIR, shipped_soup_files
from wiseft_core.engine.predict import to_batch
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.soup_plane import plane_weights, read_plane_csv
from wiseft_core.plots.soups import plane_figure, triangle_figure
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.soup_mix import LiveSoup, normalised, open_live_soup

SOUPS_DIR = DEMO_DIR / SUBDIR
PLANE_NAMES = ["zero-shot θ₀", "fine-tune θ₁ (shipped)", "fine-tune θ₂"]
TRIANGLE_LABELS = ["θ₀ zero-shot", "θ₁", "θ₂"]


@st.cache_resource(show_spinner="Loading the demo models…", max_entries=2)
def demo_soup(stamps: tuple, live_models: int) -> LiveSoup:
    """The shipped models as one set of engine endpoints and the room's live mixes over them (budget checked first);
    ``stamps`` (each file's mtime and size) makes a rebuilt file load again."""
    return open_live_soup(shipped_soup_files(DEMO_DIR), live_models)


@st.cache_resource(show_spinner=False, max_entries=2)
def gallery_batches(stamps: tuple, _soup: LiveSoup) -> dict[str, tuple[list, torch.Tensor]]:
    """{distribution: (samples, preprocessed images)}: each image decoded and resized once, not per slider move."""
    groups = gallery_samples(DEMO_SAMPLES, _soup.endpoints.classnames)
    return {distribution: (samples, to_batch([Image.open(s.path).convert("RGB") for s in samples],
                                             _soup.endpoints.preprocessing))
            for distribution, samples in groups.items()}


@st.cache_data(show_spinner=False, max_entries=2)
def plane_cells(file_stamp: tuple):
    return read_plane_csv(SOUPS_DIR / PLANE_CSV)


@st.cache_data(show_spinner=False, max_entries=2)
def soup_results(file_stamp: tuple):
    return read_results_csv(SOUPS_DIR / RESULTS_CSV)


def plane_point() -> tuple[float, float]:
    c1, c2 = st.columns(2)
    u = c1.slider("u: towards fine-tune θ₁", -0.25, 1.25, 0.5, 0.05, key="soups_u")
    v = c2.slider("v: towards fine-tune θ₂", -0.25, 1.25, 0.5, 0.05, key="soups_v")
    return u, v


def free_weights(names: list[str]) -> tuple[list[str], list[float]]:
    picked = st.multiselect("Ingredients", names, default=names[1:], key="soups_picked")
    columns = st.columns(max(1, len(picked)))
    weights = [col.slider(name, 0.0, 1.0, 1.0, 0.05, key=f"soups_w_{name}") for col, name in zip(columns, picked)]
    return picked, weights


def show_predictions(soup: LiveSoup, stamps: tuple, names: list[str], weights: list[float]) -> None:
    """Top-1 of the mix on every gallery image, a compact row per distribution: one mix, one forward each."""
    groups = gallery_batches(stamps, soup)
    if not groups:
        st.info("No sample gallery: the demo world's samples (assets/demo/samples/) are not present.")
        return
    for distribution, (samples, batch) in groups.items():
        predictions = soup.top1(names, weights, batch)
        right = sum(p[0] == s.label for p, s in zip(predictions, samples))
        st.markdown(f"**{distribution}**: {right} of {len(samples)} right")
        for col, sample, (label, prob) in zip(st.columns(len(samples)), samples, predictions):
            mark = "✓" if label == sample.label else "✗"
            col.image(str(sample.path), width=64)
            col.caption(f"{mark} {label} ({prob:.0%})")


def take_click(chart_key: str, slider_keys: Sequence[str | None]) -> None:
    """A click on the triangle moves the sliders to its lattice point's weights (the sliders stay the truth)."""
    points = st.session_state[chart_key].selection.points
    if points and len(points[0].get("customdata") or ()) == 3:
        for key, weight in zip(slider_keys, points[0]["customdata"]):
            if key is not None:
                st.session_state[key] = float(weight)


def triangle_picker(spot, labels: Sequence[str], weights: Sequence[float] | None,
                    slider_keys: Sequence[str | None], key: str) -> None:
    """The three models at a triangle's corners; clicking a point sets the weights (sliders are the keyboard way)."""
    spot.plotly_chart(triangle_figure(labels, weights), key=key, on_select=lambda: take_click(key, slider_keys),
                      selection_mode="points", config={"displayModeBar": False})
    spot.caption("Click in the triangle to pick the three weights; the sliders set them from a keyboard.")


def mix_section(models: list[str]) -> tuple[list[str], list[float], tuple[float, float] | None]:
    """The mix controls: (ingredient names, weights, the plane point when the mix is one); no names: nothing."""
    mode = st.radio("Mix", ["a point in the plane of three models", "any ingredients and weights"],
                    horizontal=True, key="soups_mode")
    point = None
    spot = st.container()
    if mode.startswith("a point") and all(n in models for n in PLANE_NAMES):
        point = plane_point()
        names, weights = PLANE_NAMES, plane_weights(*point)
        triangle_picker(spot, TRIANGLE_LABELS, weights, (None, "soups_u", "soups_v"), "soups_triangle_plane")
        st.caption("Weights (θ₀, θ₁, θ₂) = (" + ", ".join(f"{w:.2f}" for w in weights) + "): "
                   "θ₀ + u (θ₁ − θ₀) + v (θ₂ − θ₀). Outside the triangle the mix extrapolates.")
    else:
        names, weights = free_weights(models)
        if not names:
            st.info("Pick at least one ingredient.")
            return [], [], None
        try:
            weights = normalised(weights)
        except WiseftError as err:
            st.warning(escape_markdown(str(err)))
            return [], [], None
        if len(names) == 3:
            triangle_picker(spot, names, weights, [f"soups_w_{n}" for n in names], "soups_triangle_free")
        st.caption("Normalised weights: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(names, weights)))
    return names, weights, point


def plane_section(point: tuple[float, float] | None) -> None:
    path = SOUPS_DIR / PLANE_CSV
    if not path.is_file():
        st.info("The plane is not built yet: `wiseft demo build --soups`.")
        return
    cells = plane_cells(file_stamp(path))
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    c1, c2 = st.columns(2)
    dataset = c1.selectbox("Distribution", datasets, key="soups_plane_dataset")
    metric = c2.radio("Show", ["top1", "loss"], horizontal=True, key="soups_plane_metric",
                      format_func=lambda m: "accuracy" if m == "top1" else "loss")
    st.plotly_chart(plane_figure(cells, dataset, metric, point), key="soups_plane_chart")
    n = next(c.n for c in cells if c.dataset == dataset)
    draw = "validation" if dataset.endswith("@val") else "test"
    st.caption(f"θ(u, v) = θ₀ + u (θ₁ − θ₀) + v (θ₂ − θ₀), measured on the {draw} draw ({n} images). Dotted: "
               "WiSE-FT from the zero-shot model to each fine-tune and to their uniform soup (u = v = α/2).")


def results_section() -> None:
    path = SOUPS_DIR / RESULTS_CSV
    if not path.is_file():
        return
    models = soup_results(file_stamp(path))
    st.subheader("The demo's fine-tunes and soups")
    st.markdown("\n".join(results_table(models, "test")))
    st.markdown("\n".join(f"- **{'holds' if f.holds else 'does not hold'}**: {f.name} ({f.detail})"
                          for f in soup_findings(models)))
    st.caption("Why, and what the validation draw shows: assets/demo/soups/README.md.")


st.title("Model soups: averaging many fine-tunes")
st.caption("Model soups (Wortsman et al., ICML 2022) average the weights of several fine-tunes of one zero-shot "
           "model: one model, no extra inference cost, often better than each ingredient. It works when the "
           "fine-tunes share a basin, which the plane below shows.")


def demo_section() -> None:
    """The demo's models: the mix (sliders or triangle), the precomputed plane, the gallery, the results."""
    files = shipped_soup_files(DEMO_DIR)
    if "zero-shot θ₀" not in files:
        st.info("The demo models are not present (assets/demo/): run `wiseft demo build`.")
        return
    stamps = tuple(file_stamp(p) for p in files.values())
    try:
        soup = demo_soup(stamps, launch_options().live_models)
    except WiseftError as err:
        st.error(escape_markdown(str(err)))
        return
    names, weights, current = mix_section(soup.names)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("The plane through the zero-shot model and two fine-tunes")
        plane_section(current)
    with right:
        st.subheader("The mix on the sample gallery")
        if names:
            show_predictions(soup, stamps, names, weights)
    results_section()


demo_section()
st.subheader("The plane through your models")
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info("Load a pair in the sidebar first: its two models and a third make the plane.")
else:
    your_plane_section(context)
