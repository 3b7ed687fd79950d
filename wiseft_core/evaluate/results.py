"""Results files: the long-format sweep CSV written by ``wiseft sweep`` and the paper's published curves.

One row per (alpha, dataset) keeps files appendable and resumable; every plot and table is derived
from these rows, so the app, the CLI summary and the demo README all read the same numbers.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from wiseft_core.errors import WiseftError

SWEEP_COLUMNS = ["model", "finetuning", "alpha", "ensemble", "dataset", "role", "top1", "n"]
ROLES = ("reference", "shift")
# The ``finetuning`` column: each fine-tuning mode's label (the paper's words).
FINETUNING_LABELS = {"end-to-end": "end-to-end", "linear": "linear classifier"}
# Optional: the fine-tuning seed of a row, in files merged from several runs (``wiseft merge-sweeps``).
SEED_COLUMN = "seed"
# Optional: mean cross-entropy, in files swept with ``--metrics top1,loss`` (empty where not measured).
LOSS_COLUMN = "loss"
# Columns of a summary_table row that are not one dataset's accuracy.
SUMMARY_KEYS = ("model", "finetuning", "ensemble", "alpha", "reference", "avg_shifts", "avg_ref_shifts", SEED_COLUMN)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
PAPER_PER_ALPHA = ASSETS / "paper" / "paper_per_alpha.csv"
PAPER_SUMMARY = ASSETS / "paper" / "paper_summary.csv"
# Column names of the paper's per-alpha table, in the paper's order (reference first).
PAPER_REFERENCE = "IN"
PAPER_SHIFTS = ["IN_V2", "IN_R", "IN_Sketch", "ObjectNet", "IN_A"]
# The paper's headline table: the reference, each shift, their average (Table 1, the Home page, the talk).
PAPER_HEADLINE_COLUMNS = [PAPER_REFERENCE, *PAPER_SHIFTS, "avg_shifts"]
PAPER_SHIFT_LABELS = {
    "IN": "ImageNet",
    "IN_V2": "ImageNetV2",
    "IN_R": "ImageNet-R",
    "IN_Sketch": "ImageNet-Sketch",
    "ObjectNet": "ObjectNet",
    "IN_A": "ImageNet-A",
}


def _text_of(source: str | os.PathLike | IO | bytes) -> tuple[str, str]:
    """Return (display name, text) for a path, a bytes payload or a file-like upload."""
    if isinstance(source, bytes):
        return "<upload>", source.decode("utf-8-sig", errors="replace")
    if hasattr(source, "read"):
        data = source.read()
        name = getattr(source, "name", "<upload>")
        text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
        return str(name), text
    path = Path(source)
    if not path.is_file():
        raise WiseftError(f"sweep CSV not found: {path}")
    try:
        return str(path), path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise WiseftError(f"{path}: sweep CSV is not UTF-8 text (byte {err.start})") from None


def read_sweep_csv(source: str | os.PathLike | IO | bytes) -> list[dict]:
    """Read and validate a sweep CSV; alpha/top1 become floats and n an int.

    Raises WiseftError naming the missing columns or the first bad row, so an upload in the app
    gets a message the user can act on.
    """
    name, text = _text_of(source)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in SWEEP_COLUMNS if c not in header]
    if missing:
        raise WiseftError(
            f"{name} is not a wiseft sweep CSV: missing column(s) {', '.join(missing)} "
            f"(expected {','.join(SWEEP_COLUMNS)})"
        )
    rows = []
    for line_no, raw in enumerate(reader, start=2):
        try:
            row = {c: raw[c] for c in SWEEP_COLUMNS}
            row["alpha"] = float(raw["alpha"])
            row["top1"] = float(raw["top1"])
            row["n"] = float(raw["n"])
            if SEED_COLUMN in header:
                row[SEED_COLUMN] = (raw[SEED_COLUMN] or "").strip()
            if LOSS_COLUMN in header:
                row[LOSS_COLUMN] = float(raw[LOSS_COLUMN]) if (raw[LOSS_COLUMN] or "").strip() else None
        except (TypeError, ValueError) as err:
            raise WiseftError(f"{name}, line {line_no}: cannot read alpha/top1/n ({err})") from None
        problem = _row_problem(row)
        if problem:
            raise WiseftError(f"{name}, line {line_no}: {problem}")
        row["n"] = int(row["n"])
        rows.append(row)
    if not rows:
        raise WiseftError(f"{name} has the right columns but no rows")
    return rows


def _row_problem(row: dict) -> str | None:
    """What makes a parsed row unusable (a number no sweep writes), or None.

    A NaN or infinite alpha or top-1 would plot nowhere and poison every average; a count of images
    is a whole number; the loss may be NaN (an extrapolated BatchNorm model's outputs are undefined).
    """
    alpha, top1, n = row["alpha"], row["top1"], row["n"]
    if not math.isfinite(alpha):
        return f"alpha must be a finite number, got {alpha}"
    if not (math.isfinite(top1) and 0.0 <= top1 <= 100.0):
        return f"top1 must be a percentage in [0, 100], got {top1}"
    if not (math.isfinite(n) and n >= 0 and n == int(n)):
        return f"n must be a whole number of images (0 or more), got {n:g}"
    if row["role"] not in ROLES:
        return f"role must be one of {ROLES}, got {row['role']!r}"
    return None


def finetuning_label(name: str) -> str | None:
    """The ``finetuning`` label of a mode or label ("linear" -> "linear classifier"); None if it is neither."""
    if name in FINETUNING_LABELS:
        return FINETUNING_LABELS[name]
    return name if name in FINETUNING_LABELS.values() else None


def format_alpha(alpha: float) -> str:
    """Alpha as written in a sweep CSV: the shortest text that reads back as the same float ("0.12345", "1")."""
    text = repr(float(alpha) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return text[:-2] if text.endswith(".0") else text


def row_key(row: dict) -> tuple:
    """Identity of a measurement: a rerun skips rows whose key is already in the file.

    Alphas are compared exactly, as written (:func:`format_alpha` round-trips), so two alphas that
    differ in any digit are two rows and a rerun never re-measures or duplicates one.
    """
    return (row["model"], row["finetuning"], float(row["alpha"]) + 0.0, row["ensemble"], row["dataset"])


def split_torn_tail(text: str) -> tuple[str, str]:
    """(complete lines, torn final line): a row is complete only once its newline is written."""
    cut = text.rfind("\n") + 1
    return text[:cut], text[cut:]


def verified_sweep_text(path: Path, text: str) -> list[dict]:
    """Rows of an existing sweep CSV that new rows will be appended to, checked line by line.

    The header must be exactly the one :func:`append_rows` writes and every row must have its
    field count, so appended rows always line up; ``text`` must hold only complete lines.
    """
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return []
    if lines[0] not in (SWEEP_COLUMNS, [*SWEEP_COLUMNS, LOSS_COLUMN]):
        raise WiseftError(f"{path} is not a wiseft sweep CSV (header {','.join(lines[0])!r}, expected "
                          f"{','.join(SWEEP_COLUMNS)!r}); choose another --out")
    for line_no, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(lines[0]):
            raise WiseftError(f"{path}, line {line_no}: {len(fields)} fields, expected {len(lines[0])}; "
                              "the file is damaged: fix or remove that line, or choose another --out")
    if len(lines) == 1:
        return []
    return read_sweep_csv(text.encode("utf-8"))


def has_loss_column(path: str | os.PathLike) -> bool:
    """Whether an existing sweep CSV's header ends with the optional loss column."""
    with Path(path).open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), []) == [*SWEEP_COLUMNS, LOSS_COLUMN]


def append_rows(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows (writing the header for a new file) and flush, so an interrupted sweep keeps them.

    A new file gets the loss column when its rows carry a loss; an existing file keeps its header.
    """
    path = Path(path)
    rows = list(rows)
    new = not path.exists() or path.stat().st_size == 0
    with_loss = any(LOSS_COLUMN in r for r in rows) if new else has_loss_column(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*SWEEP_COLUMNS, *[LOSS_COLUMN] * with_loss],
                                extrasaction="ignore")
        if new:
            writer.writeheader()
        for row in rows:
            out = dict(row)
            out["alpha"] = format_alpha(row["alpha"])
            out["top1"] = f"{float(row['top1']):.4f}"
            if with_loss:
                out[LOSS_COLUMN] = "" if row.get(LOSS_COLUMN) is None else f"{float(row[LOSS_COLUMN]):.6f}"
            writer.writerow(out)
        handle.flush()
        os.fsync(handle.fileno())


def summary_table(rows: Iterable[dict]) -> list[dict]:
    """Per (model, finetuning, ensemble, alpha): reference accuracy, each shift, and the paper's averages.

    ``avg_shifts`` is the mean over shift datasets; ``avg_ref_shifts`` the mean of the reference and
    ``avg_shifts`` (the paper's "Avg ref., shifts"). Missing roles leave the average as None.
    """
    groups: dict[tuple, dict] = defaultdict(lambda: {"reference": {}, "shift": {}})
    for row in rows:
        key = (row["model"], row["finetuning"], row["ensemble"], round(float(row["alpha"]), 6),
               row.get(SEED_COLUMN, ""))
        groups[key][row["role"]][row["dataset"]] = float(row["top1"])
    table = []
    for (model, finetuning, ensemble, alpha, seed), by_role in sorted(groups.items()):
        ref = by_role["reference"]
        shifts = by_role["shift"]
        reference = sum(ref.values()) / len(ref) if ref else None
        avg_shifts = sum(shifts.values()) / len(shifts) if shifts else None
        both = (reference + avg_shifts) / 2 if reference is not None and avg_shifts is not None else None
        table.append({
            "model": model, "finetuning": finetuning, "ensemble": ensemble, "alpha": alpha,
            "reference": reference, **shifts, "avg_shifts": avg_shifts, "avg_ref_shifts": both,
            **({SEED_COLUMN: seed} if seed else {}),
        })
    return table


def first_run(rows: list[dict]) -> list[dict]:
    """The rows of one run of a merged sweep: its first seed (by number); every row of a sweep without seeds.

    A talk or a table shows one model per alpha; the Curves page draws all runs (mean and range).
    """
    seeds = sorted({r.get(SEED_COLUMN, "") for r in rows}, key=lambda s: (len(s), s))
    return [r for r in rows if r.get(SEED_COLUMN, "") == seeds[0]] if len(seeds) > 1 else rows


def merge_sweeps(sources: Iterable[tuple[str | None, str | os.PathLike]]) -> list[dict]:
    """Rows of several sweep CSVs in one list, each tagged with its run's seed (label, else its own seed column).

    The same measurement (model, fine-tuning, alpha, ensemble, dataset) twice under one seed is an
    error naming the file, so a merge never silently averages a run with itself.
    """
    merged, seen = [], {}
    for label, path in sources:
        for row in read_sweep_csv(path):
            seed = str(label) if label is not None else row.get(SEED_COLUMN, "")
            key = (*row_key(row), seed)
            if key in seen:
                raise WiseftError(f"{path}: {row['dataset']} at alpha {format_alpha(row['alpha'])} "
                                  f"({row['finetuning']}, {row['ensemble']}, seed {seed or '-'}) is also in "
                                  f"{seen[key]}; give each run its own seed label (SEED=FILE)")
            seen[key] = path
            merged.append({**row, SEED_COLUMN: seed})
    return merged


def write_sweep_csv(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Write rows (with the seed column, and the loss column if any row has a loss) to a new sweep CSV."""
    path = Path(path)
    rows = list(rows)
    with_loss = any(r.get(LOSS_COLUMN) is not None for r in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*SWEEP_COLUMNS, SEED_COLUMN, *[LOSS_COLUMN] * with_loss],
                                extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            loss = row.get(LOSS_COLUMN)
            writer.writerow({**row, "alpha": format_alpha(row["alpha"]), "top1": f"{float(row['top1']):.4f}",
                             SEED_COLUMN: row.get(SEED_COLUMN, ""),
                             LOSS_COLUMN: "" if loss is None else f"{float(loss):.6f}"})
    os.replace(tmp, path)


def format_summary(rows: Iterable[dict]) -> str:
    """A fixed-width text table of :func:`summary_table` for the terminal."""
    table = summary_table(rows)
    if not table:
        return "(no results)"
    shift_names = sorted({k for t in table for k in t} - set(SUMMARY_KEYS))
    seeded = [SEED_COLUMN] if any(SEED_COLUMN in t for t in table) else []
    headers = ["finetuning", "ensemble", *seeded, "alpha", "reference", *shift_names, "Avg shifts", "Avg ref., shifts"]
    keys = ["finetuning", "ensemble", *seeded, "alpha", "reference", *shift_names, "avg_shifts", "avg_ref_shifts"]

    def cell(value) -> str:
        if value is None:
            return "-"
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = [[cell(t.get(k)) for k in keys] for t in table]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    out += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def load_paper_curves(path: str | os.PathLike = PAPER_PER_ALPHA) -> list[dict]:
    """The paper's per-alpha accuracies (Tables 4, 5, 9-12), numbers as floats."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    numeric = ["alpha", PAPER_REFERENCE, *PAPER_SHIFTS, "avg_shifts", "avg_ref_shifts"]
    for row in rows:
        for col in numeric:
            row[col] = float(row[col])
    return rows


def load_paper_summary(path: str | os.PathLike = PAPER_SUMMARY) -> list[dict]:
    """The paper's summary tables (Table 1, 8, 13) as printed."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def paper_rows_as_sweep(rows: list[dict]) -> list[dict]:
    """Convert paper curves to sweep-CSV rows so one plotting path serves both sources."""
    out = []
    for row in rows:
        for col in [PAPER_REFERENCE, *PAPER_SHIFTS]:
            out.append({
                "model": row["model"], "finetuning": row["finetuning"], "alpha": row["alpha"],
                "ensemble": "weights", "dataset": PAPER_SHIFT_LABELS[col],
                "role": "reference" if col == PAPER_REFERENCE else "shift", "top1": row[col], "n": 0,
            })
    return out
