"""Soups: mix several fine-tunes of one start (model soups), see the mix's predictions, and the plane of three."""

from __future__ import annotations

import re
from collections.abc import Sequence

import streamlit as st
import torch
from PIL import Image

from app_pages.lang import names_for, t
from app_pages.shared import launch_options
from app_pages.soup_plane_job import PLANE_NAMES, model_name, over_budget_line, plane_labels, your_plane_section
from wiseft_core.demo.assets import DEMO_DIR, DEMO_SAMPLES
from wiseft_core.demo.gallery import gallery_samples
from wiseft_core.demo.soup_results import GREEDY, UNIFORM, ZERO_SHOT, read_results_csv, results_table, soup_checks
from wiseft_core.demo.soups import PLANE_CSV, RESULTS_CSV, SUBDIR, shipped_soup_files
from wiseft_core.engine.predict import to_batch
from wiseft_core.errors import WiseftError
from wiseft_core.inspection.soup_plane import plane_weights, read_plane_csv
from wiseft_core.plots.soups import plane_figure, triangle_figure
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.soup_mix import LiveSoup, OverBudget, normalised, open_live_soup

SOUPS_DIR = DEMO_DIR / SUBDIR
TABLE_KEYS = {ZERO_SHOT: "zeroshot", UNIFORM: "uniform", GREEDY: "greedy"}


def table_name(name: str) -> str:
    """A row of the demo's results (zero-shot, fine-tune k, the soups) in the viewer's language."""
    numbered = re.fullmatch(r"fine-tune (\d+)", name)
    if numbered:
        return t("soups.table.finetune", k=numbered.group(1))
    return t(f"soups.table.{TABLE_KEYS[name]}") if name in TABLE_KEYS else name


@st.cache_resource(show_spinner=False, max_entries=2)
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
    u = c1.slider(t("soups.u"), -0.25, 1.25, 0.5, 0.05, key="soups_u")
    v = c2.slider(t("soups.v"), -0.25, 1.25, 0.5, 0.05, key="soups_v")
    return u, v


def free_weights(names: list[str]) -> tuple[list[str], list[float]]:
    picked = st.multiselect(t("soups.ingredients"), names, default=names[1:], key="soups_picked",
                            format_func=names_for(names, model_name))
    columns = st.columns(max(1, len(picked)))
    weights = [col.slider(model_name(name), 0.0, 1.0, 1.0, 0.05, key=f"soups_w_{name}")
               for col, name in zip(columns, picked)]
    return picked, weights


def show_predictions(soup: LiveSoup, stamps: tuple, names: list[str], weights: list[float]) -> None:
    """Top-1 of the mix on every gallery image, a compact row per distribution: one mix, one forward each."""
    groups = gallery_batches(stamps, soup)
    if not groups:
        st.info(t("soups.no_gallery"))
        return
    for distribution, (samples, batch) in groups.items():
        predictions = soup.top1(names, weights, batch)
        right = sum(p[0] == s.label for p, s in zip(predictions, samples))
        st.markdown(t("soups.right", distribution=distribution, right=right, n=len(samples)))
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
    figure = triangle_figure(labels, weights, hover=t("soups.triangle_hover"), mix_label=t("soups.plot.mix"))
    spot.plotly_chart(figure, key=key, on_select=lambda: take_click(key, slider_keys), selection_mode="points",
                      config={"displayModeBar": False})
    spot.caption(t("soups.triangle_help"))


def mix_section(models: list[str]) -> tuple[list[str], list[float], tuple[float, float] | None]:
    """The mix controls: (ingredient names, weights, the plane point when the mix is one); no names: nothing."""
    modes = ["plane", "free"]
    mode = st.radio(t("soups.mix"), modes, horizontal=True, key="soups_mode",
                    format_func=names_for(modes, lambda m: t(f"soups.mode.{m}")))
    point = None
    spot = st.container()
    if mode == "plane" and all(n in models for n in PLANE_NAMES):
        point = plane_point()
        names, weights = PLANE_NAMES, plane_weights(*point)
        triangle_picker(spot, [t("soups.corner.theta0"), "θ₁", "θ₂"], weights, (None, "soups_u", "soups_v"),
                        "soups_triangle_plane")
        st.caption(t("soups.plane_weights", weights=", ".join(f"{w:.2f}" for w in weights)))
        return names, weights, point
    names, weights = free_weights(models)
    if not names:
        st.info(t("soups.pick_one"))
        return [], [], None
    if not any(weights):
        st.warning(t("soups.all_zero"))
        return [], [], None
    weights = normalised(weights)
    if len(names) == 3:
        triangle_picker(spot, [model_name(n) for n in names], weights, [f"soups_w_{n}" for n in names],
                        "soups_triangle_free")
    st.caption(t("soups.normalised", weights=", ".join(f"{model_name(n)} {w:.2f}" for n, w in zip(names, weights))))
    return names, weights, point


def plane_section(point: tuple[float, float] | None) -> None:
    path = SOUPS_DIR / PLANE_CSV
    if not path.is_file():
        st.info(t("soups.plane_not_built"))
        return
    cells = plane_cells(file_stamp(path))
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    c1, c2 = st.columns(2)
    dataset = c1.selectbox(t("common.distribution"), datasets, key="soups_plane_dataset")
    metrics = ["top1", "loss"]
    metric = c2.radio(t("soups.show"), metrics, horizontal=True, key="soups_plane_metric",
                      format_func=names_for(metrics, lambda m: t(f"soups.metric.{m}")))
    st.plotly_chart(plane_figure(cells, dataset, metric, point, plane_labels()), key="soups_plane_chart")
    n = next(c.n for c in cells if c.dataset == dataset)
    draw = t("soups.draw.val") if dataset.endswith("@val") else t("soups.draw.test")
    st.caption(t("soups.plane_caption", draw=draw, n=n))


def results_section() -> None:
    path = SOUPS_DIR / RESULTS_CSV
    if not path.is_file():
        return
    models = soup_results(file_stamp(path))
    st.subheader(t("soups.results"))
    header = (t("soups.table.model"), t("soups.table.recipe"), t("soups.table.avg_shifts"))
    st.markdown("\n".join(results_table(models, "test", header, table_name)))
    lines = []
    for check in soup_checks(models):
        verdict = t("soups.holds") if check.holds else t("soups.does_not_hold")
        claim = t(f"soups.check.{check.kind}", value=f"{check.value:.2f}", versus=f"{check.versus:.2f}",
                  best=table_name(check.best), top=f"{check.top:.2f}" if check.top is not None else "")
        lines.append(f"- **{verdict}**: {claim}")
    st.markdown("\n".join(lines))
    st.caption(t("soups.results_why"))


def demo_section() -> None:
    """The demo's models: the mix (sliders or triangle), the precomputed plane, the gallery, the results."""
    files = shipped_soup_files(DEMO_DIR)
    if PLANE_NAMES[0] not in files:
        st.info(t("soups.no_demo"))
        return
    stamps = tuple(file_stamp(p) for p in files.values())
    try:
        with st.spinner(t("soups.loading")):
            soup = demo_soup(stamps, launch_options().live_models)
    except OverBudget as err:
        st.error(over_budget_line(err))
        return
    except WiseftError as err:
        st.error(escape_markdown(str(err)))
        return
    names, weights, current = mix_section(soup.names)
    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("soups.plane_title"))
        plane_section(current)
    with right:
        st.subheader(t("soups.gallery_title"))
        if names:
            show_predictions(soup, stamps, names, weights)
    results_section()


st.title(t("soups.title"))
st.caption(t("soups.intro"))
demo_section()
st.subheader(t("soups.your_title"))
context = st.session_state.get("_pair_context_now")
if context is None:
    st.info(t("soups.no_pair"))
else:
    your_plane_section(context)
