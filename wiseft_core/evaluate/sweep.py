"""Alpha sweeps: accuracy of WiSE-FT on every (alpha, dataset, ensemble), written as long-format CSV rows.

Weight-space rows come from the core :class:`~wiseft_core.engine.interpolation.WeightInterpolator` (the same
engine as the app); output-space rows mix the endpoints' logits, from one pass of both models. When the
checkpoints differ only in the head (a linear-classifier fine-tune) image features are computed once
per dataset and every alpha of both ensembles runs on them. Rows are appended and flushed as they
finish, and a rerun with the same ``--out`` skips finished rows, so a killed sweep resumes.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from wiseft_core import distributed
from wiseft_core.data.datasets import LoadedDataset, default_reference, load_dataset, matches
from wiseft_core.engine.alphas import ENSEMBLES, parse_alphas
from wiseft_core.engine.merge_methods import DEFAULT_METHOD, make_spec
from wiseft_core.engine.pair import ClassifierPair, load_pair
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import evaluation, results

METRICS = ("top1", "loss")


def parse_metrics(text: str | None) -> list[str]:
    """``--metrics top1,loss``: top-1 is always measured; ``loss`` adds the mean cross-entropy column."""
    names = [n.strip() for n in (text or "top1").split(",") if n.strip()]
    bad = [n for n in names if n not in METRICS]
    if bad:
        raise WiseftError(f"--metrics {bad[0]!r}: expected a comma list of {', '.join(METRICS)}")
    return ["top1", *(["loss"] if "loss" in names else [])]


@dataclass
class SweepConfig:
    zeroshot: str
    finetuned: str | list[str]  # several: merged by ``method``
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
    objectnet_crop: bool = True  # False: no 2-px border crop, as the reference code (it defines but never applies it)
    progress: bool = True
    force_slow_path: bool = False  # for tests and benchmarks: never use the LC fast path
    metrics: list[str] = field(default_factory=lambda: ["top1"])  # "loss" adds the mean cross-entropy
    method: str = DEFAULT_METHOD  # merge method making the fine-tuned side (merge_methods)
    method_args: list[str] = field(default_factory=list)  # its KEY=VALUE parameters


def finetuning_of(pair: ClassifierPair, override: str | None = None) -> str:
    """The CSV's ``finetuning`` column: the flag, else the fine-tuned checkpoint's recipe, else inferred.

    A merge method other than WiSE-FT's plain pair is named after it (``end-to-end, ties density=0.2 ...``),
    so its rows are told apart, plotted apart, and a rerun with another method never skips them.
    """
    if override:
        return results.finetuning_label(override) or override
    recipe = pair.finetuned.meta.recipe or {}
    label = next((found for key in ("finetuning", "mode")
                  if (found := results.finetuning_label(str(recipe.get(key)))) is not None), None)
    label = label or results.FINETUNING_LABELS["linear" if pair.differs_only_in_head() else "end-to-end"]
    if pair.merge is None:
        return label
    return f"{label}, {pair.merge.label()}"


def read_existing(path: Path, repair: bool = True) -> list[dict]:
    """Rows already in ``--out``, after checking the file can be appended to.

    A final line without its newline is a row torn by a kill mid-write: it is dropped (and, with
    ``repair``, cut from the file) with a warning, so the row is measured again instead of the next
    row being glued onto it. A wrong header or a short row elsewhere is an error naming the line.
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WiseftError(f"{path} is not a UTF-8 sweep CSV ({err.reason} at byte {err.start}); "
                          "choose another --out") from None
    complete, torn = results.split_torn_tail(text)
    if torn:
        if repair:
            with path.open("r+b") as handle:
                handle.truncate(len(complete.encode("utf-8")))
                os.fsync(handle.fileno())
            print(f"wiseft sweep: warning: {path} ended in a torn row ({torn[:60]!r}), left by an interrupted "
                  "run; dropped it, it will be measured again", file=sys.stderr)
    return results.verified_sweep_text(path, complete)


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


def _check_config(config: SweepConfig) -> None:
    if not config.evals:
        raise WiseftError("give at least one --eval dataset (e.g. --eval imagenet=/data/imagenet/val)")
    if config.batch_size < 1:
        raise WiseftError(f"--batch-size {config.batch_size}: must be at least 1")
    if config.workers < 0:
        raise WiseftError(f"--workers {config.workers}: must be at least 0")
    if not 0 <= config.cache_gb < float("inf"):
        raise WiseftError(f"--cache-gb {config.cache_gb}: must be a finite number at least 0")


def _dataset(spec: str, config: SweepConfig, pair: ClassifierPair, transform):
    """The test split of ``spec``, checked against the head, and its batches (cached in memory up to a bound)."""
    loaded = load_dataset(spec, split="test")
    if not config.objectnet_crop:
        loaded = dataclasses.replace(loaded, crop_border=0)
    loaded.check_classifier_width(pair.endpoint_model(0).num_classes, pair.classnames)
    batches = evaluation.BatchCache(loaded, transform, config.batch_size, config.workers,
                                    limit_bytes=int(config.cache_gb * (1 << 30)))
    return loaded, batches


def _sweep_on_weights(pair, interpolator, loaded: LoadedDataset, batches, weights, outputs, env, emit):
    """Both ensembles on images: one pass of both endpoints for outputs, one pass per alpha for weights."""
    if outputs:
        emit(loaded.spec, "outputs", evaluation.output_space_accuracies(
            pair.endpoint_model(0), pair.endpoint_model(1), outputs, batches, loaded, env.device, with_loss=True))
    for triple in evaluation.weight_space_accuracies(interpolator, weights, batches, loaded, env.device,
                                                     with_loss=True):
        emit(loaded.spec, "weights", [triple])


def run_sweep(config: SweepConfig) -> list[dict]:
    """Measure every missing row, append it to ``config.out`` (main rank) and return the rows measured."""
    _check_config(config)
    env = distributed.setup(config.device)
    out = Path(config.out)
    done = {results.row_key(r) for r in read_existing(out, repair=env.is_main)}
    with_loss = "loss" in config.metrics
    if with_loss and out.is_file() and out.stat().st_size and not results.has_loss_column(out):
        raise WiseftError(f"{out} was written without a loss column; give --metrics loss another --out")
    distributed.barrier()  # every rank has read the finished rows before rank 0 appends new ones

    pair = load_pair(config.zeroshot, config.finetuned, env.device, merge=make_spec(config.method, config.method_args))
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
                 "dataset": spec, "role": roles[spec], "top1": evaluation.percent(correct, n), "n": n,
                 **({"loss": loss / n if n else None} if with_loss else {})}
                for alpha, correct, n, loss in triples]
        if rows and any(r["n"] == 0 for r in rows):
            raise WiseftError(f"dataset {spec!r}: no readable image was evaluated")
        if env.is_main and rows:
            results.append_rows(out, rows)
        measured.extend(rows)
        bar.update(len(rows))

    units = sum(len(todo(s, e)) for s in config.evals for e in ENSEMBLES)
    bar = tqdm(total=units, desc="sweep", unit="row", disable=not (config.progress and env.is_main),
               file=sys.stderr, delay=evaluation.BAR_DELAY_S)
    started = time.perf_counter()
    for spec in config.evals:
        weights, outputs = todo(spec, "weights"), todo(spec, "outputs")
        if not weights and not outputs:
            continue
        bar.set_postfix_str(spec, refresh=False)
        loaded, batches = _dataset(spec, config, pair, transform)
        if fast:
            _sweep_on_features(pair, loaded, batches, weights, outputs, env, emit)
        else:
            _sweep_on_weights(pair, interpolator, loaded, batches, weights, outputs, env, emit)
        batches.unreadable.warn(spec)
    bar.close()
    if env.is_main and config.progress:
        print(f"wiseft sweep: {len(measured)} row(s) measured in {time.perf_counter() - started:.1f}s"
              f"{' (linear-classifier fast path)' if fast else ''}; {len(done)} already in {out}", file=sys.stderr)
    return measured


def _sweep_on_features(pair, loaded: LoadedDataset, batches, weights, outputs, env, emit):
    """LC fast path: one forward pass of the (shared) tower, then every alpha on the cached features."""
    zeroshot, finetuned = pair.endpoint_model(0), pair.endpoint_model(1)
    features, labels = evaluation.image_features(zeroshot, batches, env.device)
    w, o = evaluation.head_only_accuracies(zeroshot.head, finetuned.head, features, labels, loaded, weights, outputs,
                                           with_loss=True)
    emit(loaded.spec, "weights", w)
    emit(loaded.spec, "outputs", o)


def summary_for(out: str | Path, model: str | None = None) -> str:
    """The paper-style table (reference, each shift, Avg shifts, Avg ref., shifts) of an output CSV."""
    rows = read_existing(Path(out))
    if model is not None:
        rows = [r for r in rows if r["model"] == model]
    return results.format_summary(rows)
