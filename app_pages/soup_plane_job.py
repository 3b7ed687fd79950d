"""The Soups page's plane for the loaded models: the room's pair and a third checkpoint, as a bounded job.

Not a page. The viewer's pair (shared by the room) and a third server checkpoint become one live soup of
three endpoints, kept for the room (``SoupCache``); a job measures accuracy and loss over a (u, v) grid on a
chosen distribution, leasing that soup's live model per batch, with its place in line, progress and cancel.
The memory the soup needs is checked before the job is queued.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages import room_jobs
from app_pages.lang import current_lang, names_for, t
from app_pages.shared import dataset_picker, launch_options
from wiseft_core.data.datasets import load_dataset
from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.soups import PLANE_AXIS, shipped_soup_files
from wiseft_core.errors import WiseftError
from wiseft_core.files.reader import load_classifier
from wiseft_core.inspection.soup_plane import measure_plane_live, plane_axis
from wiseft_core.plots.soups import PLANE_LABELS, plane_figure
from wiseft_core.serve.app_launch import model_files
from wiseft_core.serve.file_stamps import file_stamp
from wiseft_core.serve.i18n import translate
from wiseft_core.serve.markup import escape_markdown
from wiseft_core.serve.soup_mix import OverBudget, SoupCache, check_soup_budget, live_soup_of, model_bytes

KIND = "soups_plane"
USER_KEY = "_soups_user_plane"
STEPS = (0.5, 0.25)  # 25 or 81 points over PLANE_AXIS's range
PLANE_NAMES = ["zero-shot θ₀", "fine-tune θ₁ (shipped)", "fine-tune θ₂"]  # shipped_soup_files' names
MODEL_KEYS = dict(zip([*PLANE_NAMES, "greedy soup"], ["zeroshot", "finetune1", "finetune2", "greedy"]))


def model_name(name: str) -> str:
    """A shipped model's name in the viewer's language (its internal name stays the widgets' key)."""
    return t(f"soups.model.{MODEL_KEYS[name]}") if name in MODEL_KEYS else name


def plane_labels() -> dict[str, str]:
    """The plane figure's words in the viewer's language."""
    return {key: t(f"soups.plot.{key}") for key in PLANE_LABELS}


def over_budget_line(err: OverBudget) -> str:
    return t("soups.over_budget", models=err.models, live=err.live_models, needed=f"{err.needed_gib:.1f}",
             budget=f"{err.budget_gib:.1f}")


@st.cache_resource
def room_soups() -> SoupCache:
    """The room's live three-model soups (two at most): a second viewer of the same three builds nothing."""
    return SoupCache(size=2)


def third_choices(context) -> dict[str, Path]:
    """Checkpoints the operator offers (launch pair, ``--models-dir``, the demo's soups) other than the pair's own."""
    own = {Path(context.zeroshot_path).resolve(), Path(context.finetuned_path).resolve()}
    files = {**shipped_soup_files(DEMO_DIR), **model_files(launch_options())}
    return {name: path for name, path in files.items() if Path(path).resolve() not in own}


def plane_work(context, third: Path, spec: str, step: float):
    """The job: the three-model soup (built once for the room) measured over the grid on ``spec``."""
    cache, trust, lang = room_soups(), launch_options().may_unpickle(), current_lang()
    pair = context.pair

    def build():
        extra = load_classifier(third, device=context.device, trust_pickle=trust, like=pair.meta)
        return live_soup_of({"θ₀": pair.zeroshot, "θ₁": pair.finetuned, "θ₂": extra}, live_models=1)

    def work(job):
        job.report(0.0, translate(lang, "soups.job.loading", name=third.name))
        soup = cache.get((context.key, str(third), file_stamp(third)), build)
        loaded = load_dataset(spec)
        loaded.check_classifier_width(pair.zeroshot.model.num_classes, pair.classnames)
        axis = plane_axis(PLANE_AXIS[0], PLANE_AXIS[1], step)

        def progress(done: int, total: int) -> None:
            job.report(done / total, translate(lang, "soups.job.progress", done=done, total=total))

        return measure_plane_live(lambda: soup.pool.lease(background=True, stop=job.token.check), loaded,
                                  soup.endpoints.preprocessing.eval_transform(), axis, axis, room_jobs.APP_BATCH,
                                  progress, job.token, room_jobs.APP_KEEP_BYTES)

    return work


def fits(context, third: Path) -> bool:
    """Whether the three-model soup fits the memory budget (checked before queueing); else one line."""
    try:
        check_soup_budget([model_bytes(context.pair.zeroshot), model_bytes(context.pair.finetuned),
                           third.stat().st_size], live_models=1)
    except OverBudget as err:
        st.error(over_budget_line(err))
        return False
    except (WiseftError, OSError) as err:
        st.error(escape_markdown(str(err)))
        return False
    return True


def your_plane_section(context) -> None:
    """Pick a third checkpoint, a distribution and a grid; compute as a job; draw the heatmap once done."""
    choices = third_choices(context)
    if not choices:
        st.info(t("soups.no_third"))
        return
    with st.form("soups_plane_compute"):
        c1, c2, c3 = st.columns([2, 2, 1])
        names = list(choices)
        name = c1.selectbox(t("soups.third"), names, key="soups_third",
                            format_func=names_for(names, model_name))
        spec = dataset_picker(c2, "demo:photo", key="soups_plane_spec")
        step = c3.selectbox(t("soups.grid_step"), STEPS, key="soups_plane_step")
        submitted = st.form_submit_button(t("soups.compute"))
    third = Path(choices[name])
    submitted = submitted and fits(context, third)
    cells = room_jobs.pair_job(KIND, t("soups.job.title"), submitted, lambda: plane_work(context, third, spec, step),
                               (context.key, str(third), file_stamp(third), spec, step), context.key)
    if cells is not None:
        st.session_state[USER_KEY] = (context.key, cells)
    held = st.session_state.get(USER_KEY)
    if held is None or held[0] != context.key:
        return
    cells = held[1]
    metrics = ["top1", "loss"]
    metric = st.radio(t("soups.show"), metrics, horizontal=True, key="soups_user_metric",
                      format_func=names_for(metrics, lambda m: t(f"soups.metric.{m}")))
    st.plotly_chart(plane_figure(cells, cells[0].dataset, metric, labels=plane_labels()), key="soups_user_chart")
    st.caption(t("soups.your_caption", dataset=cells[0].dataset, n=cells[0].n))
