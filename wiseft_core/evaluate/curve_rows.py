"""Accuracy-vs-robustness rows for the curve figures: the paper's tables and ``wiseft sweep`` CSVs, one shape."""

from __future__ import annotations

from collections.abc import Sequence

from wiseft_core.evaluate import results
from wiseft_core.evaluate.results import load_paper_curves, paper_rows_as_sweep, read_sweep_csv, summary_table

# Columns of a summary row that are not accuracies of a single dataset.
SUMMARY_KEYS = ("source", *results.SUMMARY_KEYS)


def tag_rows(rows: list[dict], source: str) -> list[dict]:
    """Summary rows with a ``source`` column, so several sources can share one figure and table."""
    return [{"source": source, **row} for row in rows]


def paper_curve_rows() -> list[dict]:
    """The paper's per-alpha tables as summary rows (reference = ImageNet, shifts by their names)."""
    return tag_rows(summary_table(paper_rows_as_sweep(load_paper_curves())), "paper")


def sweep_curve_rows(source, label: str) -> list[dict]:
    """A ``wiseft sweep`` CSV (path, bytes or upload) as summary rows; raises WiseftError on a bad file."""
    return tag_rows(summary_table(read_sweep_csv(source)), label)


def shift_columns(rows: Sequence[dict]) -> list[str]:
    """The per-dataset shift columns present in summary rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in SUMMARY_KEYS:
                seen.setdefault(key, None)
    return list(seen)
