"""The demo's criteria, checked on hand-made accuracies: each one can fail on its own."""

from wiseft_core.demo.findings import check_findings, lesson_findings
from wiseft_core.demo.seeds import SeedResult, seeds_markdown

NAMES = ["photo", "v2", "sketch", "rendition", "objectnet", "adversarial"]


def acc(*values: float) -> dict[str, float]:
    return {f"demo:{n}": v for n, v in zip(NAMES, values)}


# A world that teaches the paper's lesson: fine-tuning gains 39 on the reference, loses 6.0 on avg shifts
# (59.2 -> 53.2), and alpha = 0.5 beats both endpoints on every shift (avg shifts 67.2, +8.0).
ZS = acc(60, 65, 69, 68, 50, 44)
FT = acc(99, 75, 60, 55, 43, 33)
MID = acc(99.5, 78, 80, 72, 56, 50)



def test_a_world_that_shows_the_lesson_passes_every_criterion():
    assert all(f.holds for f in lesson_findings(ZS, FT, MID))


def test_fine_tuning_that_keeps_avg_shifts_within_3_points_fails_criterion_2_only():
    ft = {**FT, "demo:v2": 92.0}  # v2 gains 27: avg shifts drops by 2.6 only
    found = {f.name[:2]: f.holds for f in lesson_findings(ZS, ft, MID)}
    assert found["2."] is False and found["3."] is True


def test_a_shift_that_rises_with_fine_tuning_fails_criterion_3():
    found = {f.name[:2]: f.holds for f in lesson_findings(ZS, {**FT, "demo:rendition": 68.5}, MID)}
    assert found["3."] is False


def test_v2_may_rise_but_not_by_more_than_the_reference():
    ok = {f.name[:2]: f.holds for f in lesson_findings(ZS, {**FT, "demo:v2": 65 + 39}, MID)}
    too_much = {f.name[:2]: f.holds for f in lesson_findings(ZS, {**FT, "demo:v2": 65 + 39.5}, MID)}
    assert ok["3."] is True and too_much["3."] is False


def test_alpha_half_below_an_endpoint_on_two_shifts_fails_4b_and_a_small_average_gain_fails_4a():
    mid = {**MID, "demo:objectnet": 49.0, "demo:adversarial": 40.0}  # 3/5 above both; avg 63.8, +4.6
    found = {f.name[:3]: f.holds for f in lesson_findings(ZS, FT, mid)}
    assert found["4a."] is False and found["4b."] is False and found["4c."] is True


def test_alpha_half_more_than_one_point_below_fine_tuned_on_the_reference_fails_4c():
    found = {f.name[:3]: f.holds for f in lesson_findings(ZS, FT, {**MID, "demo:photo": 97.9})}
    assert found["4c."] is False


def _rows(finetuning: str, ensemble: str, alpha: float, accuracies: dict[str, float]) -> list[dict]:
    return [{"model": "demo-clip", "finetuning": finetuning, "alpha": alpha, "ensemble": ensemble, "dataset": d,
             "role": "reference" if d == "demo:photo" else "shift", "top1": v, "n": 2000}
            for d, v in accuracies.items()]


def test_check_findings_reads_criteria_1_to_5_from_sweep_rows():
    rows = []
    for alpha, a in ((0.0, ZS), (0.5, MID), (1.0, FT)):
        rows += _rows("end-to-end", "weights", alpha, a)
        rows += _rows("linear classifier", "weights", alpha, a)
        rows += _rows("linear classifier", "outputs", alpha, {k: v + 0.05 for k, v in a.items()})
    found = {f.name[:3]: f.holds for f in check_findings(rows)}
    assert found == {"1a.": True, "1b.": True, "2. ": True, "3. ": True, "4a.": True, "4b.": True, "4c.": True,
                     "5. ": True}
    rows[-1]["top1"] += 0.2  # the linear classifier's curves now differ by 0.25 at one point
    assert {f.name[:2]: f.holds for f in check_findings(rows)}["5."] is False


def test_seeds_markdown_reports_every_seed_pair_and_how_many_hold():
    good = SeedResult(0, 1, ZS, FT, MID)
    bad = SeedResult(1, 0, ZS, {**FT, "demo:sketch": 70.0}, MID)
    text = seeds_markdown([good, bad])
    assert "Criteria 2-4 hold for 1 of 2 seed pairs." in text
    assert "| 1 | 0 | fine-tuned | 99.0 | 75.0 | 70.0 |" in text
    assert "[NO] 3." in text
