"""The figures in Russian: no English word left in what a figure draws (titles, axes, legend, hover, notes).

Each figure the app's pages draw is built from the demo world's files with the labels the pages pass at
``lang=ru``; every text a viewer can read in it is collected, and a Latin word that is not a name
(WiSE-FT, CLIP, ImageNet…, the demo's model, a unit) fails the test.
"""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from app_pages.lang import plot_labels
from wiseft_core.demo.assets import DEMO_DIR, DEMO_FLIPS, DEMO_LANDSCAPE, DEMO_POINTING, DEMO_SWEEP, read_pointing
from wiseft_core.demo.soup_results import demo_soup_curves, read_results_csv
from wiseft_core.demo.soups import RESULTS_CSV, SWEEP_CSV
from wiseft_core.demo.soups import SUBDIR as SOUPS_SUBDIR
from wiseft_core.evaluate.curve_rows import paper_curve_rows, sweep_curve_rows
from wiseft_core.evaluate.published_soups import load_published_soups
from wiseft_core.inspection.flips import counts_along, load_flips
from wiseft_core.inspection.landscape import read_csv
from wiseft_core.inspection.weight_diff import BlockDiff
from wiseft_core.plots.curves import accuracy_curves_figure, weight_diff_figure
from wiseft_core.plots.inspection import flip_counts_figure, landscape_figure, pointing_game_figure
from wiseft_core.plots.labels import ENGLISH, TEXT_FIELDS
from wiseft_core.plots.soups import soup_cloud_figure

# Names and notation, not words: the method, models and datasets, the demo's model, metrics and math.
NAMES = ("WiSE-FT", "CLIP", "ImageNetV2", "ImageNet-R", "ImageNet-Sketch", "ImageNet-A", "ImageNet", "ObjectNet",
         "demo-clip", "BASIC-L", "BASIC-M", "ViT-L/14@336px", "ViT-B/16", "ViT-H/14", "JFT-300M", "ALIGN",
         "zero-shot", "top-1", "θ_ft", "θ_zs", "ViT-B/32")
PLOTLY_MARKUP = re.compile(r"%\{[^}]*\}|</?(?:extra|br|b|i|sub|sup)>|&#?\w+;")


def english_words(text: str) -> list[str]:
    """Latin words (two letters or more) left in ``text`` once Plotly's markup and the names are taken out."""
    rest = PLOTLY_MARKUP.sub(" ", text)
    for name in sorted(NAMES, key=len, reverse=True):
        rest = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", " ", rest)
    return re.findall(r"[A-Za-z]{2,}", rest)


def figure_texts(figure) -> list[str]:
    """What a viewer reads in ``figure`` (a Plotly figure or its JSON as a dict): titles, axis titles,
    annotations, trace names and hover texts."""
    spec = figure if isinstance(figure, dict) else figure.to_plotly_json()
    layout = spec.get("layout", {})
    texts = [(layout.get("title") or {}).get("text")]
    texts += [(value.get("title") or {}).get("text") for key, value in layout.items()
              if re.fullmatch(r"[xy]axis\d*", key)]
    texts += [note.get("text") for note in layout.get("annotations", ())]
    for trace in spec.get("data", ()):
        texts.append(trace.get("name"))
        hover = trace.get("hovertemplate")
        texts += hover if isinstance(hover, (list, tuple)) else [hover]
    return [text for text in texts if text]


def demo_figures(labels) -> dict[str, object]:
    """Every figure of Curves, Home, Weights, Flips and Landscape, from the demo world and the paper."""
    if not all(path.is_file() for path in (DEMO_SWEEP, DEMO_FLIPS, DEMO_LANDSCAPE, DEMO_POINTING)):
        pytest.skip("the demo world is not built (wiseft demo build)")
    demo = sweep_curve_rows(DEMO_SWEEP, "demo")
    two_seeds = demo + [{**row, "seed": "1", "reference": row["reference"] + 0.5} for row in demo]
    diffs = [BlockDiff("visual.conv1", 0.01, 0.999, 10), BlockDiff("head", 0.2, 0.98, 5)]
    flips = load_flips(DEMO_FLIPS)
    result = flips.results[0]
    paths = [p for p in read_csv(DEMO_LANDSCAPE) if p.dataset == "demo:photo"]
    soups = DEMO_DIR / SOUPS_SUBDIR
    return {
        "demo curves": accuracy_curves_figure(demo, "demo:sketch", current_alpha=0.5, labels=labels),
        "two seeds, logit": accuracy_curves_figure(two_seeds, "avg_shifts", current_alpha=0.3, logit_axes=True,
                                                   labels=labels),
        "paper, every model": accuracy_curves_figure(paper_curve_rows(), "ImageNet-R", labels=labels),
        "weights": weight_diff_figure(diffs, labels),
        "pointing": pointing_game_figure(read_pointing(DEMO_POINTING), 0.5, labels),
        "flips": flip_counts_figure(result.alphas, counts_along(result), result.n, 0.5, labels),
        "landscape": landscape_figure(paths, 0.5, labels=labels),
        "soups cloud": soup_cloud_figure(load_published_soups(), read_results_csv(soups / RESULTS_CSV),
                                         demo_soup_curves(soups / SWEEP_CSV, DEMO_SWEEP), labels),
    }


def test_in_russian_no_figure_draws_an_english_word():
    left = {name: words for name, figure in demo_figures(plot_labels("ru")).items()
            if (words := sorted({w for text in figure_texts(figure) for w in english_words(text)}))}
    assert left == {}


def test_in_english_the_same_figures_do_draw_english_words_so_the_check_can_fail():
    english = demo_figures(plot_labels("en"))
    assert all(any(english_words(text) for text in figure_texts(figure)) for figure in english.values())


def test_the_russian_figures_name_the_demo_distributions_and_paths_in_russian():
    figures = demo_figures(plot_labels("ru"))
    pointing = [trace.name for trace in figures["pointing"].data if trace.showlegend is not False]
    assert pointing[:3] == ["фото", "фото\xa0v2", "набросок"]
    legend = [trace.name for trace in figures["landscape"].data if trace.showlegend is not False]
    assert legend[0].startswith("от zero-shot к дообученной (барьер ")
    assert figures["demo curves"].data[0].name == "демо-мир · demo-clip · дообучение всей модели · выходы"


def test_the_english_plot_strings_are_the_figures_own_defaults():
    english = plot_labels("en")
    assert {name: getattr(english, name) for name in TEXT_FIELDS} == {
        name: getattr(ENGLISH, name) for name in TEXT_FIELDS}
    assert {f.name for f in fields(ENGLISH)} == {*TEXT_FIELDS, "names"}


def test_a_name_the_labels_do_not_know_is_shown_as_it_is():
    assert plot_labels("ru").name("my-dataset") == "my-dataset"
    assert plot_labels("ru").name("demo:sketch") == "набросок"
    assert plot_labels("en").name("demo:sketch") == "demo:sketch"  # an untranslated name keeps its spec


def test_the_playgrounds_stored_first_answer_names_the_demo_classes_in_russian():
    from app_pages.preview import in_viewer_words
    from wiseft_core.demo.playground_preview import preview_payload

    stored = preview_payload(0.5, None)
    if stored is None:
        pytest.skip("no stored preview for the demo pair")
    shown = in_viewer_words(stored, plot_labels("ru").name)
    assert shown["images"] and not english_words(" ".join(shown["classnames"].values()))
    assert not english_words(" ".join(image["name"] + " " + (image["label_name"] or "") for image in shown["images"]))
    assert in_viewer_words(stored, plot_labels("en").name) == stored  # English: the stored payload as it is
