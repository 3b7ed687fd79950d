"""The demo soups' results: every model's top-1 on both draws, as ``soups.csv`` and a Markdown report.

The paper's two findings are checked on these rows, the way ``findings.py`` checks the WiSE-FT lesson:
the greedy soup is at least as good as the best single fine-tune on the reference, and the soups'
average over the shifts against that model's. "Best single" is the fine-tune with the best
validation accuracy on the reference, as a practitioner without the test sets would pick it.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wiseft_core.data import world
from wiseft_core.demo.findings import Finding
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.state_dict_scorer import StateDictScorer

RECIPE_KEYS = ("lr", "steps", "wd", "label_smoothing", "seed")
SPLITS = ("val", "test")
CSV_FIELDS = ("model", *RECIPE_KEYS, "split", *world.DISTRIBUTIONS, "avg_shifts")
UNIFORM, GREEDY, ZERO_SHOT = "uniform soup", "greedy soup", "zero-shot"


@dataclass
class Scored:
    """One model's top-1 on every distribution of both draws (keys are distribution names)."""

    name: str
    val: dict[str, float]
    test: dict[str, float]
    recipe: dict | None = None

    def avg_shifts(self, split: str) -> float:
        table = getattr(self, split)
        return sum(table[d] for d in world.SHIFTS) / len(world.SHIFTS)

    @property
    def is_fine_tune(self) -> bool:
        return self.name not in (UNIFORM, GREEDY, ZERO_SHOT)


def distribution_of(spec: str) -> str:
    """``demo:photo@val`` -> ``photo``."""
    return spec.split(":", 1)[1].split("@")[0]


def score_both(name: str, state_dict: dict, scorers: dict[str, StateDictScorer], recipe: dict | None = None
               ) -> Scored:
    """``state_dict`` scored on the validation and the test draw of every distribution."""
    tables = {split: {distribution_of(spec): s.top1 for spec, s in scorer.score(state_dict).items()}
              for split, scorer in scorers.items()}
    return Scored(name, tables["val"], tables["test"], recipe)


def write_results_csv(path: str | os.PathLike, models: Sequence[Scored]) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for m in models:
            recipe = m.recipe or {}
            for split in SPLITS:
                table = getattr(m, split)
                writer.writerow([m.name, *(recipe.get(k, "") if m.is_fine_tune else "" for k in RECIPE_KEYS),
                                 split, *(f"{table[d]:.2f}" for d in world.DISTRIBUTIONS),
                                 f"{m.avg_shifts(split):.2f}"])
    return path


def read_results_csv(path: str | os.PathLike) -> list[Scored]:
    """The models of a ``soups.csv``, in file order; a wrong header or row is one clear error."""
    path = Path(path)
    models: dict[str, Scored] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_FIELDS:
            raise WiseftError(f"{path.name}: expected the columns {','.join(CSV_FIELDS)}")
        for row in reader:
            try:
                table = {d: float(row[d]) for d in world.DISTRIBUTIONS}
                recipe = {k: float(row[k]) for k in RECIPE_KEYS if row[k]}
            except ValueError as err:
                raise WiseftError(f"{path.name}, line {reader.line_num}: {err}") from None
            if row["split"] not in SPLITS:
                raise WiseftError(f"{path.name}, line {reader.line_num}: split must be val or test")
            model = models.setdefault(row["model"], Scored(row["model"], {}, {}, recipe or None))
            setattr(model, row["split"], table)
    return list(models.values())


def best_single(models: Sequence[Scored]) -> Scored:
    """The fine-tune a practitioner would ship: the best on the reference's validation draw."""
    return max((m for m in models if m.is_fine_tune), key=lambda m: m.val[world.REFERENCE])


@dataclass(frozen=True)
class SoupCheck:
    """One of the paper's claims on one draw, as numbers: ``kind`` is "greedy_reference", "uniform_shifts" or
    "greedy_shifts"; ``value`` (the soup's) against ``versus`` (the best single model's, ``best``); ``top`` is the
    best fine-tune's on this draw (the reference claim only). A page words it in its viewer's language."""

    kind: str
    holds: bool
    value: float
    versus: float
    best: str
    top: float | None = None


def soup_checks(models: Sequence[Scored], split: str = "test") -> list[SoupCheck]:
    """The paper's two claims on one draw: greedy soup >= best single on the reference; soups' shift average."""
    by_name = {m.name: m for m in models}
    best, greedy, uniform = best_single(models), by_name[GREEDY], by_name[UNIFORM]
    ref = world.REFERENCE
    top = max(getattr(m, split)[ref] for m in models if m.is_fine_tune)
    g, b = getattr(greedy, split)[ref], getattr(best, split)[ref]
    shifts = {m.name: m.avg_shifts(split) for m in (best, greedy, uniform)}
    return [SoupCheck("greedy_reference", g >= b, g, b, best.name, top),
            *(SoupCheck(f"{'uniform' if soup == UNIFORM else 'greedy'}_shifts", shifts[soup] >= shifts[best.name],
                        shifts[soup], shifts[best.name], best.name) for soup in (UNIFORM, GREEDY))]


def soup_findings(models: Sequence[Scored], split: str = "test") -> list[Finding]:
    """The paper's two claims on one draw, in English (the CLI and the generated report)."""
    findings = []
    for check in soup_checks(models, split):
        if check.kind == "greedy_reference":
            findings.append(Finding("greedy soup >= best single model on the reference", check.holds,
                                    f"{check.value:.2f} vs {check.versus:.2f} ({check.best}, best on the validation "
                                    f"draw; best of all on this draw {check.top:.2f})"))
        else:
            soup = UNIFORM if check.kind == "uniform_shifts" else GREEDY
            findings.append(Finding(f"{soup}'s shift average >= best single model's", check.holds,
                                    f"{check.value:.2f} vs {check.versus:.2f}"))
    return findings


def _recipe_text(m: Scored) -> str:
    r = m.recipe or {}
    if not m.is_fine_tune or not r:
        return ""
    return f"{r['lr']:g} / {int(r['steps'])} / {r['label_smoothing']:g} / {r['wd']:g} / {int(r['seed'])}"


TABLE_HEADER = ("model", "lr / steps / ls / wd / seed", "avg shifts")


def results_table(models: Sequence[Scored], split: str, header: Sequence[str] = TABLE_HEADER,
                  name_of: Callable[[str], str] = str) -> list[str]:
    """Markdown rows of every model on ``split``; ``header`` (model, recipe, average) and ``name_of`` (a model's
    shown name) let a page write them in its viewer's language."""
    header = [header[0], header[1], *world.DISTRIBUTIONS, header[2]]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for m in models:
        table = getattr(m, split)
        cells = [name_of(m.name), _recipe_text(m), *(f"{table[d]:.1f}" for d in world.DISTRIBUTIONS),
                 f"{m.avg_shifts(split):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def results_markdown(models: Sequence[Scored], greedy: Sequence[int], trace: Sequence[dict]) -> str:
    """Both tables, the greedy trace and the findings on both draws (generated: nothing hand-edited)."""
    lines = ["# Demo soups: results", "", "Top-1 %; generated by `wiseft demo build --soups` from `soups.csv`.", "",
             "## Test draw (2000 images per distribution)", "", *results_table(models, "test"), "",
             "## Validation draw (1000 images per distribution: ranking and the greedy choice)", "",
             *results_table(models, "val"), "", "## Greedy soup (validation draw of the reference)", ""]
    lines += [f"- fine-tune {t['ingredient']}: soup accuracy {t['score']:.2f} -> "
              + ("kept" if t["kept"] else "left out") for t in trace]
    lines += ["", f"Ingredients: {', '.join(str(i) for i in greedy)}.", ""]
    for split in ("test", "val"):
        lines += [f"## The paper's findings, {split} draw", ""]
        lines += [f"- [{'ok' if f.holds else 'NO'}] {f.name}: {f.detail}" for f in soup_findings(models, split)]
        lines.append("")
    return "\n".join(lines)


def demo_soup_curves(sweep_soups: Path, demo_sweep: Path | None = None) -> list[dict]:
    """Summary rows of WiSE-FT from the zero-shot model to each soup, and to the shipped fine-tune when
    ``demo_sweep`` (``sweep.csv``) is given, labelled by where the curve ends (the ``finetuning`` column)."""
    from wiseft_core.demo.findings import END_TO_END, seed_rows
    from wiseft_core.evaluate.curve_rows import sweep_curve_rows
    from wiseft_core.evaluate.results import read_sweep_csv, summary_table

    rows = sweep_curve_rows(sweep_soups, "demo soups")
    if demo_sweep is not None and demo_sweep.is_file():
        shipped = [r for r in seed_rows(read_sweep_csv(demo_sweep))
                   if r["finetuning"] == END_TO_END and r["ensemble"] == "weights"]
        rows += [{**r, "source": "demo", "finetuning": "the shipped fine-tune"} for r in summary_table(shipped)]
    return rows
