"""Alpha sweeps: accuracy of WiSE-FT on every (alpha, dataset, ensemble), written as long-format CSV rows.

Weight-space rows come from the core :class:`~wiseft_core.interpolation.WeightInterpolator` (the same
engine as the app); output-space rows mix the endpoints' logits, from one pass of both models. When the
checkpoints differ only in the head (a linear-classifier fine-tune) image features are computed once
per dataset and every alpha of both ensembles runs on them. Rows are appended and flushed as they
finish, and a rerun with the same ``--out`` skips finished rows, so a killed sweep resumes.
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from wiseft_core import distributed, evaluation, results
from wiseft_core.datasets import LoadedDataset, default_reference, load_dataset, matches
from wiseft_core.errors import WiseftError
from wiseft_core.pair import ClassifierPair, load_pair

FINETUNING_NAMES = {"end-to-end": "end-to-end", "linear": "linear classifier",
                    "linear classifier": "linear classifier"}


def parse_alphas(text: str) -> list[float]:
    """``START:STOP:STEP`` (inclusive), a comma list ``0,0.5,1``, or one number; rounded to 6 decimals."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError("need STEP > 0 and STOP >= START")
            count = int(round((stop - start) / step))
            alphas = [round(start + i * step, 6) for i in range(count + 1)]
        else:
            alphas = [round(float(x), 6) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise WiseftError(f"--alphas {text!r}: expected START:STOP:STEP (e.g. 0:1:0.05) or a comma list "
                          f"(e.g. 0,0.5,1) ({err})") from None
    if not alphas:
        raise WiseftError(f"--alphas {text!r} gives no alpha")
    return list(dict.fromkeys(alphas))


def parse_ensembles(values: list[str] | None) -> list[str]:
    """``--ensemble weights --ensemble outputs`` or ``--ensemble weights,outputs``; default weights."""
    names = [v.strip() for value in (values or ["weights"]) for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in results.ENSEMBLES]
    if bad:
        raise WiseftError(f"--ensemble {bad[0]!r}: expected one of {', '.join(results.ENSEMBLES)}")
    return list(dict.fromkeys(names))


@dataclass
class SweepConfig:
    zeroshot: str
    finetuned: str
    evals: list[str]
    out: str
    alphas: list[float] = field(default_factory=lambda: parse_alphas("0:1:0.05"))
    ensembles: list[str] = field(default_factory=lambda: ["weights"])
    reference: str | None = None
    finetuning: str | None = None
    batch_size: int = 256
    workers: int = 0
    device: str | None = "auto"
    cache_gb: float = 2.0
    progress: bool = True
    force_slow_path: bool = False  # for tests and benchmarks: never use the LC fast path


def finetuning_of(pair: ClassifierPair, override: str | None = None) -> str:
    """The CSV's ``finetuning`` column: the flag, else the fine-tuned checkpoint's recipe, else inferred."""
    if override:
        return FINETUNING_NAMES.get(override, override)
    recipe = pair.finetuned.meta.recipe or {}
    for key in ("finetuning", "mode"):
        if recipe.get(key) in FINETUNING_NAMES:
            return FINETUNING_NAMES[recipe[key]]
    return "linear classifier" if pair.differs_only_in_head() else "end-to-end"


def read_existing(path: Path) -> list[dict]:
    """Rows already in ``--out`` (none for a missing or header-only file); a foreign CSV is an error."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        if not any(True for _ in csv.DictReader(handle)):
            return []
    return results.read_sweep_csv(path)


def roles_of(specs: list[str], reference: str | None) -> dict[str, str]:
    """Role per spec: the --reference one (default ImageNet, demo:photo or the first) vs ``shift``."""
    if reference is None:
        chosen = default_reference(specs)
    else:
        found = [s for s in specs if matches(s, reference)]
        if not found:
            raise WiseftError(f"--reference {reference!r} matches none of the --eval datasets: "
                              f"{', '.join(specs)}")
        chosen = found[0]
    return {spec: "reference" if spec == chosen else "shift" for spec in specs}


def run_sweep(config: SweepConfig) -> list[dict]:
    """Measure every missing row, append it to ``config.out`` (main rank) and return the rows measured."""
    if not config.evals:
        raise WiseftError("give at least one --eval dataset (e.g. --eval imagenet=/data/imagenet/val)")
    env = distributed.setup(config.device)
    out = Path(config.out)
    done = {results.row_key(r) for r in read_existing(out)}
    distributed.barrier()  # every rank has read the finished rows before rank 0 appends new ones

    pair = load_pair(config.zeroshot, config.finetuned, device=env.device)
    model_name = pair.meta.model_name
    finetuning = finetuning_of(pair, config.finetuning)
    roles = roles_of(config.evals, config.reference)
    fast = pair.differs_only_in_head() and not config.force_slow_path
    interpolator = None if fast else pair.new_interpolator()  # the fast path interpolates only the heads
    transform = pair.preprocessing.eval_transform()
    measured: list[dict] = []

    def todo(spec: str, ensemble: str) -> list[float]:
        if ensemble not in config.ensembles:
            return []
        return [a for a in config.alphas
                if results.row_key({"model": model_name, "finetuning": finetuning, "alpha": a,
                                    "ensemble": ensemble, "dataset": spec}) not in done]

    def emit(spec: str, ensemble: str, triples) -> None:
        rows = [{"model": model_name, "finetuning": finetuning, "alpha": alpha, "ensemble": ensemble,
                 "dataset": spec, "role": roles[spec], "top1": evaluation.percent(correct, n), "n": n}
                for alpha, correct, n in triples]
        if rows and any(r["n"] == 0 for r in rows):
            raise WiseftError(f"dataset {spec!r}: no readable image was evaluated")
        if env.is_main and rows:
            results.append_rows(out, rows)
        measured.extend(rows)
        bar.update(len(rows))

    units = sum(len(todo(s, e)) for s in config.evals for e in results.ENSEMBLES)
    bar = tqdm(total=units, desc="sweep", unit="row", disable=not (config.progress and env.is_main),
               file=sys.stderr)
    started = time.perf_counter()
    for spec in config.evals:
        weights, outputs = todo(spec, "weights"), todo(spec, "outputs")
        if not weights and not outputs:
            continue
        bar.set_postfix_str(spec)
        loaded = load_dataset(spec, split="test")
        loaded.check_classifier_width(pair.endpoint_model(0).num_classes)
        batches = evaluation.BatchCache(loaded, transform, config.batch_size, config.workers,
                                        limit_bytes=int(config.cache_gb * (1 << 30)))
        if fast:
            _sweep_on_features(pair, loaded, batches, weights, outputs, env, emit)
        else:
            if outputs:
                emit(spec, "outputs", evaluation.output_space_accuracies(
                    pair.endpoint_model(0), pair.endpoint_model(1), outputs, batches, loaded, env.device))
            sweep = evaluation.weight_space_accuracies(interpolator, weights, batches, loaded, env.device)
            for triple in sweep:
                emit(spec, "weights", [triple])
        batches.unreadable.warn(spec)
    bar.close()
    if env.is_main and config.progress:
        elapsed = time.perf_counter() - started
        path_note = " (linear-classifier fast path)" if fast else ""
        print(f"wiseft sweep: {len(measured)} row(s) measured in {elapsed:.1f}s{path_note}; "
              f"{len(done)} already in {out}", file=sys.stderr)
    return measured


def _sweep_on_features(pair, loaded: LoadedDataset, batches, weights, outputs, env, emit):
    """LC fast path: one forward pass of the (shared) tower, then every alpha on the cached features."""
    zeroshot, finetuned = pair.endpoint_model(0), pair.endpoint_model(1)
    features, labels = evaluation.image_features(zeroshot, batches, env.device)
    w, o = evaluation.head_only_accuracies(zeroshot.head, finetuned.head, features, labels, loaded, weights, outputs)
    emit(loaded.spec, "weights", w)
    emit(loaded.spec, "outputs", o)


def summary_for(out: str | Path, model: str | None = None) -> str:
    """The paper-style table (reference, each shift, Avg shifts, Avg ref., shifts) of an output CSV."""
    rows = read_existing(Path(out))
    if model is not None:
        rows = [r for r in rows if r["model"] == model]
    return results.format_summary(rows)
