"""Talk mode: the paper's story in twelve steps, built from the app's own figures and numbers.

``texts`` loads the per-language slide texts (data files in ``assets/talk/``), ``data`` gathers the
numbers a talk shows (sweep, paper tables, measured costs, live predictions), ``slides`` turns them
into one ``Slide`` per step, and ``export`` writes a self-contained HTML file, PNGs and a PDF. The
Streamlit page and ``wiseft talk export`` both call these, so the app and the file show the same talk.
"""

from wiseft_core.talk.slides import STEP_COUNT, Panel, Slide, TalkState, build_slide, build_talk
from wiseft_core.talk.texts import LANGS, Texts, load_texts

__all__ = ["LANGS", "STEP_COUNT", "Panel", "Slide", "TalkState", "Texts", "build_slide", "build_talk", "load_texts"]
