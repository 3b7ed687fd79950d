"""The findings the shipped demo sweep must show, checked on the sweep CSV itself.

The paper's lesson, shift by shift: fine-tuning gains on the reference but loses on the shifts, and
WiSE-FT at alpha = 0.5 beats both endpoints. Used by ``wiseft demo build`` (printed at the end, written
to RESULTS.md), by ``wiseft demo seeds`` (per seed, on the validation draw) and by the tests, so the
README's claims, the build and CI all test the same thing on the same measured rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from statistics import mean

from wiseft_core.data import world
from wiseft_core.evaluate.results import FINETUNING_LABELS, SEED_COLUMN, read_sweep_csv

END_TO_END, LINEAR = FINETUNING_LABELS["end-to-end"], FINETUNING_LABELS["linear"]
REFERENCE_SPEC = f"demo:{world.REFERENCE}"
SHIFT_SPECS = [f"demo:{d}" for d in world.SHIFTS]
SHIPPED_SEED = "0"  # the fine-tuning seed of the shipped checkpoints; other seeds in sweep.csv are the spread
V2_SPEC = "demo:v2"  # like ImageNetV2 it tracks the reference, so it may rise with fine-tuning
CHANCE = 100.0 / world.NUM_CLASSES


@dataclass(frozen=True)
class Finding:
    name: str
    holds: bool
    detail: str


def top1_table(rows: list[dict], finetuning: str, ensemble: str) -> dict[float, dict[str, float]]:
    """{alpha: {dataset: top1}} for one fine-tuning and one ensemble kind (``@split`` suffixes dropped)."""
    table: dict[float, dict[str, float]] = {}
    for row in rows:
        if row["finetuning"] == finetuning and row["ensemble"] == ensemble:
            table.setdefault(round(row["alpha"], 6), {})[row["dataset"].split("@")[0]] = row["top1"]
    return table


def seed_rows(rows: list[dict], seed: str = SHIPPED_SEED) -> list[dict]:
    """The rows of one fine-tuning seed (all rows of a sweep without a seed column)."""
    return [r for r in rows if r.get(SEED_COLUMN, "") in ("", seed)]


def spread_seeds(rows: list[dict]) -> list[str]:
    """The fine-tuning seeds in a merged sweep, the shipped one first."""
    seeds = sorted({r.get(SEED_COLUMN, "") for r in rows} - {"", SHIPPED_SEED}, key=lambda s: (len(s), s))
    return [SHIPPED_SEED, *seeds] if any(r.get(SEED_COLUMN) == SHIPPED_SEED for r in rows) else seeds


def avg_shifts(accuracies: dict[str, float]) -> float:
    return mean(accuracies[s] for s in SHIFT_SPECS)


def lesson_findings(zs: dict[str, float], ft: dict[str, float], mid: dict[str, float]) -> list[Finding]:
    """Criteria 2-4: fine-tuning costs robustness, shift by shift, and alpha = 0.5 wins it back.

    ``zs``, ``ft`` and ``mid`` are {dataset: top1} at alpha 0, 1 and 0.5 (weight space). These are
    the criteria checked on every fine-tuning and pretraining seed of the validation draw too.
    """
    ref = REFERENCE_SPEC
    drop = avg_shifts(zs) - avg_shifts(ft)
    must_fall = [s for s in SHIFT_SPECS if s != V2_SPEC]
    rose = [s for s in must_fall if ft[s] >= zs[s]]
    ref_gain, v2_gain = ft[ref] - zs[ref], ft[V2_SPEC] - zs[V2_SPEC]
    best = max(avg_shifts(zs), avg_shifts(ft))
    above = [s for s in SHIFT_SPECS if mid[s] > max(zs[s], ft[s])]
    margins = ", ".join(f"{s.split(':')[1]} {mid[s] - max(zs[s], ft[s]):+.1f}" for s in SHIFT_SPECS)
    return [
        Finding("2. fine-tuning lowers avg shifts by >= 3", drop >= 3,
                f"avg shifts {avg_shifts(zs):.1f} -> {avg_shifts(ft):.1f} ({-drop:+.1f})"),
        Finding("3. fine-tuning lowers rendition, sketch, objectnet, adversarial; v2 rises no more than the "
                "reference", not rose and v2_gain <= ref_gain,
                "; ".join(f"{s.split(':')[1]} {zs[s]:.1f} -> {ft[s]:.1f}" for s in must_fall)
                + f"; v2 {v2_gain:+.1f} vs reference {ref_gain:+.1f}"),
        Finding("4a. alpha=0.5 beats the better endpoint on avg shifts by >= 5", avg_shifts(mid) >= best + 5,
                f"alpha=0.5 {avg_shifts(mid):.1f} vs {best:.1f} ({avg_shifts(mid) - best:+.1f})"),
        Finding("4b. alpha=0.5 above both endpoints on >= 4 of 5 shifts", len(above) >= 4,
                f"{len(above)}/5 (margin over the better endpoint: {margins})"),
        Finding("4c. alpha=0.5 within 1 point of fine-tuned on the reference", mid[ref] >= ft[ref] - 1,
                f"fine-tuned {ft[ref]:.1f}, alpha=0.5 {mid[ref]:.1f}"),
    ]


def check_findings(sweep: str | os.PathLike | list[dict]) -> list[Finding]:
    """Criteria 1-5 on a sweep CSV (or its rows): the shipped end-to-end pair in weight space, the linear classifier."""
    rows = seed_rows(read_sweep_csv(sweep) if not isinstance(sweep, list) else sweep)
    e2e = top1_table(rows, END_TO_END, "weights")
    zs, ft, mid = e2e[0.0], e2e[1.0], e2e[0.5]
    specs = [REFERENCE_SPEC, *SHIFT_SPECS]
    lowest = min(specs, key=lambda s: zs[s])
    gain = ft[REFERENCE_SPEC] - zs[REFERENCE_SPEC]
    lc_w, lc_o = top1_table(rows, LINEAR, "weights"), top1_table(rows, LINEAR, "outputs")
    gaps = [abs(lc_w[a][s] - lc_o[a][s]) for a in lc_w if a in lc_o for s in lc_w[a] if s in lc_o[a]]
    return [
        Finding("1a. zero-shot >= 3x chance everywhere", zs[lowest] >= 3 * CHANCE,
                f"lowest zero-shot {zs[lowest]:.1f} on {lowest} (3x chance = {3 * CHANCE:.0f})"),
        Finding("1b. end-to-end fine-tuning gains >= 25 on the reference", gain >= 25,
                f"{zs[REFERENCE_SPEC]:.1f} -> {ft[REFERENCE_SPEC]:.1f} ({gain:+.1f})"),
        *lesson_findings(zs, ft, mid),
        Finding("5. linear classifier: weight- and output-space curves coincide (0.1)",
                bool(gaps) and max(gaps) <= 0.1 + 1e-9,
                f"largest gap {max(gaps) if gaps else float('nan'):.2f} over {len(gaps)} points"),
    ]


def format_findings(findings: list[Finding]) -> str:
    return "\n".join(f"[{'ok' if f.holds else 'NO'}] {f.name}: {f.detail}" for f in findings)


def _table_lines(title: str, table: dict[float, dict[str, float]], alphas) -> list[str]:
    specs = [REFERENCE_SPEC, *SHIFT_SPECS]
    lines = [title, "", "| alpha | " + " | ".join(s.split(":")[1] for s in specs) + " | avg shifts |",
             "|---" * (len(specs) + 2) + "|"]
    for alpha in alphas:
        if alpha in table and all(s in table[alpha] for s in specs):
            acc = table[alpha]
            lines.append(f"| {alpha:g} | " + " | ".join(f"{acc[s]:.1f}" for s in specs) + f" | {avg_shifts(acc):.1f} |")
    return [*lines, ""]


def results_markdown(sweep: str | os.PathLike | list[dict], alphas=(0.0, 0.25, 0.5, 0.75, 1.0)) -> str:
    """Top-1 tables at a few alphas (shipped seed), the findings, and criteria 2-4 for every other seed."""
    every = read_sweep_csv(sweep) if not isinstance(sweep, list) else sweep
    rows = seed_rows(every)
    n = rows[0]["n"]
    lines = []
    for finetuning in (END_TO_END, LINEAR):
        for ensemble in ("weights", "outputs"):
            table = top1_table(rows, finetuning, ensemble)
            if table:
                lines += _table_lines(f"**{finetuning}, {ensemble}-space ensemble** (top-1 %, n = {n} per "
                                      "distribution)", table, alphas)
    lines += ["**Findings** (the shipped pair, fine-tuning seed 0)", ""]
    lines += [f"- {line}" for line in format_findings(check_findings(rows)).splitlines()]
    others = [seed for seed in spread_seeds(every) if seed != SHIPPED_SEED]
    if others:
        lines += ["", "**Other fine-tuning seeds** (end-to-end, weight space, same test sets; the Curves page draws "
                  "their range): criteria 2-4", ""]
        for seed in others:
            table = top1_table(seed_rows(every, seed), END_TO_END, "weights")
            found = lesson_findings(table[0.0], table[1.0], table[0.5])
            lines += [f"- seed {seed}: " + ("all hold" if all(f.holds for f in found) else "NOT all hold")]
            lines += [f"  - [{'ok' if f.holds else 'NO'}] {f.name}: {f.detail}" for f in found]
    return "\n".join(lines) + "\n"
