"""The findings the shipped demo sweep must show (issue 5), checked on the sweep CSV itself.

Used by ``wiseft demo build`` (printed at the end, written to RESULTS.md) and by the tests, so the
README's claims, the build and CI all test the same thing on the same measured rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from statistics import mean

from wiseft_core.demo import world
from wiseft_core.results import FINETUNING_LABELS, read_sweep_csv

END_TO_END, LINEAR = FINETUNING_LABELS["end-to-end"], FINETUNING_LABELS["linear"]
REFERENCE_SPEC = f"demo:{world.REFERENCE}"
SHIFT_SPECS = [f"demo:{d}" for d in world.SHIFTS]
CHANCE = 100.0 / world.NUM_CLASSES


@dataclass(frozen=True)
class Finding:
    name: str
    holds: bool
    detail: str


def top1_table(rows: list[dict], finetuning: str, ensemble: str) -> dict[float, dict[str, float]]:
    """{alpha: {dataset: top1}} for one fine-tuning and one ensemble kind."""
    table: dict[float, dict[str, float]] = {}
    for row in rows:
        if row["finetuning"] == finetuning and row["ensemble"] == ensemble:
            table.setdefault(round(row["alpha"], 6), {})[row["dataset"]] = row["top1"]
    return table


def avg_shifts(accuracies: dict[str, float]) -> float:
    return mean(accuracies[s] for s in SHIFT_SPECS)


def check_findings(sweep: str | os.PathLike | list[dict]) -> list[Finding]:
    """Findings 1-5 of issue 5 on a sweep CSV (or its rows). Finding 6 (re-measurable) is a test."""
    rows = read_sweep_csv(sweep) if not isinstance(sweep, list) else sweep
    e2e = top1_table(rows, END_TO_END, "weights")
    zs, ft, mid = e2e[0.0], e2e[1.0], e2e[0.5]
    specs = [REFERENCE_SPEC, *SHIFT_SPECS]
    lowest = min(specs, key=lambda s: zs[s])
    below = [s for s in SHIFT_SPECS if ft[s] < zs[s]]
    gain = ft[REFERENCE_SPEC] - zs[REFERENCE_SPEC]
    best_endpoint = max(avg_shifts(zs), avg_shifts(ft))
    lc_w, lc_o = top1_table(rows, LINEAR, "weights"), top1_table(rows, LINEAR, "outputs")
    gaps = [abs(lc_w[a][s] - lc_o[a][s]) for a in lc_w if a in lc_o for s in lc_w[a] if s in lc_o[a]]
    return [
        Finding("1. zero-shot >= 3x chance everywhere", zs[lowest] >= 3 * CHANCE,
                f"lowest zero-shot {zs[lowest]:.1f} on {lowest} (3x chance = {3 * CHANCE:.0f})"),
        Finding("2. end-to-end fine-tuning gains >= 15 on the reference", gain >= 15,
                f"{zs[REFERENCE_SPEC]:.1f} -> {ft[REFERENCE_SPEC]:.1f} ({gain:+.1f})"),
        Finding("3. fine-tuned below zero-shot on >= 3 of 5 shifts", len(below) >= 3,
                f"below on {len(below)}: {', '.join(below) or '-'}"),
        Finding("4a. alpha=0.5 beats both endpoints on avg shifts by >= 2", avg_shifts(mid) >= best_endpoint + 2,
                f"avg shifts zero-shot {avg_shifts(zs):.1f}, fine-tuned {avg_shifts(ft):.1f}, "
                f"alpha=0.5 {avg_shifts(mid):.1f} ({avg_shifts(mid) - best_endpoint:+.1f})"),
        Finding("4b. alpha=0.5 within 3 of fine-tuned on the reference",
                mid[REFERENCE_SPEC] >= ft[REFERENCE_SPEC] - 3,
                f"reference fine-tuned {ft[REFERENCE_SPEC]:.1f}, alpha=0.5 {mid[REFERENCE_SPEC]:.1f}"),
        Finding("5. linear classifier: weight- and output-space curves coincide (0.1)",
                bool(gaps) and max(gaps) <= 0.1 + 1e-9,
                f"largest gap {max(gaps) if gaps else float('nan'):.2f} over {len(gaps)} points"),
    ]


def format_findings(findings: list[Finding]) -> str:
    return "\n".join(f"[{'ok' if f.holds else 'NO'}] {f.name}: {f.detail}" for f in findings)


def results_markdown(sweep: str | os.PathLike | list[dict], alphas=(0.0, 0.25, 0.5, 0.75, 1.0)) -> str:
    """Top-1 tables at a few alphas (per fine-tuning and ensemble) plus the findings, as Markdown."""
    rows = read_sweep_csv(sweep) if not isinstance(sweep, list) else sweep
    specs = [REFERENCE_SPEC, *SHIFT_SPECS]
    lines = []
    for finetuning in (END_TO_END, LINEAR):
        for ensemble in ("weights", "outputs"):
            table = top1_table(rows, finetuning, ensemble)
            if not table:
                continue
            lines += [f"**{finetuning}, {ensemble}-space ensemble** (top-1 %, n = 2000 per distribution)", "",
                      "| alpha | " + " | ".join(s.split(":")[1] for s in specs) + " | avg shifts |",
                      "|---" * (len(specs) + 2) + "|"]
            for alpha in alphas:
                if alpha in table and all(s in table[alpha] for s in specs):
                    acc = table[alpha]
                    lines.append(f"| {alpha:g} | " + " | ".join(f"{acc[s]:.1f}" for s in specs)
                                 + f" | {avg_shifts(acc):.1f} |")
            lines.append("")
    lines += ["**Findings**", ""] + [f"- {line}" for line in format_findings(check_findings(rows)).splitlines()]
    return "\n".join(lines) + "\n"
