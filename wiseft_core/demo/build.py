"""``wiseft demo build``: generate, pretrain, zero-shot head, both fine-tunes, the sweep — the shipped pair.

Every number in ``assets/demo/sweep.csv`` comes out of this pipeline, through the same ``wiseft
finetune`` and ``wiseft sweep`` code a user runs on real models; nothing is hand-edited. The recipe
is a dataclass so the README, the checkpoint metadata and the build log all state the same values.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from wiseft_core.data import world
from wiseft_core.data.tokenizer import DemoTokenizer
from wiseft_core.demo.assets import DEMO_DIR
from wiseft_core.demo.model_config import MODEL_NAME, register
from wiseft_core.demo.playground_preview import write_preview
from wiseft_core.demo.pretrain import PretrainRecipe, generate_pairs, pretrain, world_fingerprint
from wiseft_core.evaluate.results import merge_sweeps, write_sweep_csv

DEFAULT_OUT = DEMO_DIR
PRETRAINED_TAG = "wiseft-demo-world"  # not an open_clip tag: the weights exist only in these files
SAMPLE_INDICES = (1, 6, 13, 28, 36)  # test images: large circle, small plus, large star, small ring, small crescent
CLIP_FILE = "pretrained_clip.safetensors"  # both towers: lets a rebuild skip pretraining (--reuse-pretrained)
CLIP_METADATA_KEY = "wiseft_demo_clip"
# The fingerprint is the pretrained file's reuse key, not a property of the classifier: leaving it out keeps
# the zero-shot checkpoint (and so the sha256 that fine-tunes record) the same bytes for the same weights.
NOT_IN_CLASSIFIER = ("model_config", "world_fingerprint")
SAMPLE_SCALE = 4  # samples are the 32x32 test images enlarged 4x (nearest) so a gallery shows crisp pixels


@dataclass
class FinetuneRecipe:
    lr: float
    steps: int
    warmup: int
    batch_size: int
    batchnorm: str = "train"
    wd: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0


@dataclass
class BuildRecipe:
    pretrain: PretrainRecipe
    end_to_end: FinetuneRecipe
    linear: FinetuneRecipe
    alphas: str = "0:1:0.05"
    split_sizes: dict[str, int] = field(default_factory=lambda: dict(world.DEFAULT_SIZES))
    evals: list[str] = field(default_factory=lambda: [f"demo:{d}" for d in world.DISTRIBUTIONS])
    threads: int = 2
    # More end-to-end fine-tuning seeds, swept in weight space only: the seed spread the Curves page draws.
    spread_seeds: tuple[int, ...] = (1, 2)

    def to_dict(self) -> dict:
        return asdict(self)


FULL = BuildRecipe(
    pretrain=PretrainRecipe(pairs=200_000, steps=2400, batch_size=256, lr=1e-3, warmup_steps=200, seed=0),
    end_to_end=FinetuneRecipe(lr=5e-4, steps=400, warmup=40, batch_size=128, batchnorm="frozen", label_smoothing=0.1),
    linear=FinetuneRecipe(lr=1e-2, steps=1000, warmup=100, batch_size=512),
)
QUICK = BuildRecipe(
    pretrain=PretrainRecipe(pairs=2_000, steps=30, batch_size=64, lr=1e-3, warmup_steps=5, seed=0),
    end_to_end=FinetuneRecipe(lr=5e-4, steps=8, warmup=2, batch_size=32),
    linear=FinetuneRecipe(lr=1e-2, steps=20, warmup=2, batch_size=128),
    alphas="0,0.5,1",
    split_sizes={"train": 2000, "val": 100, "test": 100},
    threads=1,
    spread_seeds=(1,),
)


class BuildLog:
    """Progress on stderr and in ``build.log``: one timestamped line per event."""

    def __init__(self, path: Path):
        self.path, self.start = path, time.perf_counter()
        path.write_text("", encoding="utf-8")

    def __call__(self, message: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f}s] {message}"
        print(line, file=sys.stderr, flush=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.start, 1)


def write_samples(folder: Path, indices=SAMPLE_INDICES) -> list[Path]:
    """A few labelled test images per distribution: ``<distribution>_<idx>_<class_name>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    written = []
    for name in world.DISTRIBUTIONS:
        for index in indices:
            image, label = world.generate(name, "test", index)
            big = image.resize((image.width * SAMPLE_SCALE, image.height * SAMPLE_SCALE), resample=0)
            path = folder / f"{name}_{index}_{world.CLASSNAMES[label].replace(' ', '_')}.png"
            big.save(path, optimize=True)
            written.append(path)
    return written


def save_clip(path: Path, clip_model: torch.nn.Module, info: dict) -> None:
    """The whole pretrained CLIP (both towers) in fp16 safetensors, with how it was made."""
    from safetensors.torch import save_file

    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in clip_model.state_dict().items()}
    save_file(tensors, str(path), metadata={CLIP_METADATA_KEY: json.dumps(info, sort_keys=True)})


def load_clip(path: Path) -> tuple[torch.nn.Module, dict, object]:
    """(CLIP model in fp32 eval mode, the info saved with it, its Preprocessing)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from wiseft_core.files.models import create_clip

    with safe_open(str(path), "pt") as handle:
        info = json.loads(handle.metadata()[CLIP_METADATA_KEY])
    clip_model, _, preprocessing = create_clip(MODEL_NAME, None, model_config=info["model_config"])
    clip_model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()})
    return clip_model.eval(), info, preprocessing


TRAINING_THREADS = 1


@contextmanager
def training_threads() -> Iterator[None]:
    """Train on one torch thread whatever ``--threads`` says, then restore it.

    A CPU's float sums depend on how many threads split them, and a few hundred optimiser steps turn that
    last-bit difference into another model: pretrained on two threads, the same seed gave a CLIP whose
    lesson differs. On one thread a rebuild reproduces the shipped weights.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAINING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def pretrain_clip(recipe: BuildRecipe, path: Path, log: Callable[[str], None]) -> dict:
    """Generate pairs, pretrain ``demo-clip`` contrastively, save it to ``path``; returns its info."""
    from wiseft_core.files.models import create_clip

    config = register()
    started = time.perf_counter()
    images, tokens, _ = generate_pairs(recipe.pretrain.pairs, seed=recipe.pretrain.seed, workers=recipe.threads,
                                       progress=log)
    generated = time.perf_counter()
    log(f"generated {len(images)} image-caption pairs in {generated - started:.0f}s")
    clip_model, config, preprocessing = create_clip(MODEL_NAME, None, seed=recipe.pretrain.seed, model_config=config)
    with training_threads():
        loss_log = pretrain(clip_model, images, tokens, recipe.pretrain, preprocessing.mean, preprocessing.std,
                            progress=log)
    pretrained = time.perf_counter()
    info = {"model_config": config, "world_seed": world.WORLD_SEED, "pretrain": recipe.pretrain.to_dict(),
            "world_fingerprint": world_fingerprint(),
            "final_loss": loss_log[-1]["loss"], "logit_scale": loss_log[-1]["logit_scale"],
            "pretrain_seconds": round(pretrained - generated, 1), "generate_seconds": round(generated - started, 1),
            "threads": TRAINING_THREADS}
    save_clip(path, clip_model, info)
    log(f"pretrained in {pretrained - generated:.0f}s (loss {info['final_loss']}, "
        f"logit scale {info['logit_scale']}); wrote {path.name}")
    return info


def reusable_clip(path: Path, recipe: PretrainRecipe) -> str | None:
    """Why the pretrained CLIP at ``path`` cannot stand for ``recipe`` on today's world (None: it can)."""
    if not path.is_file():
        return "not found"
    _, info, _ = load_clip(path)
    if info.get("pretrain") != json.loads(json.dumps(recipe.to_dict())):
        return "pretrained with another recipe"
    if info.get("world_fingerprint") != world_fingerprint():
        return "pretrained on another world (the pretraining images or captions have changed)"
    return None


def zeroshot_matches(path: Path, clip_info: dict) -> bool:
    """Whether ``path`` is the world's zero-shot classifier of the pretrained CLIP described by ``clip_info``."""
    from wiseft_core.files.checkpoints import read_meta

    if not path.is_file():
        return False
    meta = read_meta(path)
    made_from = {k: v for k, v in clip_info.items() if k not in NOT_IN_CLASSIFIER}
    return (meta.classnames == list(world.CLASSNAMES) and meta.templates == list(world.TEMPLATES)
            and meta.recipe is None and (meta.extra or {}).get("demo_world") == made_from)


def build_zeroshot(recipe: BuildRecipe, out: Path, log: Callable[[str], None], reuse: bool = False,
                   clip_path: Path | None = None, target: Path | None = None, keep: bool = False) -> dict:
    """Pretrain (or, with ``reuse``, reload a matching pretrained CLIP) and save the zero-shot classifier.

    With ``keep``, an existing zero-shot file made from that very CLIP stays as it is (so the fine-tunes
    that recorded its sha256 stay reusable).
    """
    from wiseft_core.files.zeroshot import build_zeroshot_checkpoint

    clip_path = clip_path or out / CLIP_FILE
    target = target or out / "zeroshot.safetensors"
    info = None
    if reuse:
        why_not = reusable_clip(clip_path, recipe.pretrain)
        if why_not is None:
            info = {}
            log(f"reusing {clip_path.name} (same pretraining recipe and world)")
        else:
            log(f"{clip_path.name}: {why_not}; pretraining again")
    if info is None:
        info = pretrain_clip(recipe, clip_path, log)
    clip_model, info, preprocessing = load_clip(clip_path)  # fp16-rounded, exactly what a reuse would load
    if keep and zeroshot_matches(target, info):
        log(f"keeping {target.name} (the zero-shot head of this pretrained CLIP)")
        return {"generate_s": info["generate_seconds"], "pretrain_s": info["pretrain_seconds"]}
    build_zeroshot_checkpoint(MODEL_NAME, world.CLASSNAMES, list(world.TEMPLATES), PRETRAINED_TAG,
                              clip=(clip_model, info["model_config"], preprocessing), tokenizer=DemoTokenizer(),
                              extra={"demo_world": {k: v for k, v in info.items() if k not in NOT_IN_CLASSIFIER}},
                              out=target, dtype=torch.float16)
    log(f"wrote {target.name}")
    return {"generate_s": info["generate_seconds"], "pretrain_s": info["pretrain_seconds"]}


def run_finetune(mode: str, ft: FinetuneRecipe, zeroshot: Path, target: Path, work: Path, quiet: bool) -> None:
    """``wiseft finetune --train demo:photo`` with the demo recipe; keeps only the final checkpoint."""
    from dataclasses import asdict

    from wiseft_core.train.finetune import FinetuneConfig, finetune

    run_dir = work / f"{mode}-seed{ft.seed}"
    with training_threads():
        final = finetune(FinetuneConfig(
            zeroshot=str(zeroshot), train=f"demo:{world.REFERENCE}", out=str(run_dir), mode=mode, **asdict(ft),
            device="cpu", save_dtype="float16", keep_epochs=1, progress=not quiet,
        ))
    shutil.copyfile(final, target)


def finetune_matches(path: Path, zeroshot: Path, mode: str, ft: FinetuneRecipe) -> bool:
    """Whether the checkpoint at ``path`` is this fine-tune of this zero-shot file (its recorded recipe and sha256)."""
    from wiseft_core.files.checkpoints import file_sha256, read_meta

    if not path.is_file():
        return False
    made = read_meta(path).recipe or {}
    want = {"mode": mode, "train": f"demo:{world.REFERENCE}", "lr": ft.lr, "steps": ft.steps, "warmup": ft.warmup,
            "batch_size": ft.batch_size, "batchnorm": ft.batchnorm, "wd": ft.wd,
            "label_smoothing": ft.label_smoothing, "seed": ft.seed, "zeroshot_sha256": file_sha256(zeroshot)}
    return all(made.get(key) == value for key, value in want.items())


def reuse_or_finetune(ft: FinetuneRecipe, zeroshot: Path, target: Path, work: Path, quiet: bool,
                      log: Callable[[str], None]) -> Path:
    """``target`` if it is this end-to-end fine-tune of ``zeroshot`` (recorded recipe and sha256); else made now.

    The one reuse rule of build, seeds and inspect: a file of another recipe or CLIP is never taken as is.
    """
    if finetune_matches(target, zeroshot, "end-to-end", ft):
        log(f"reusing {target} (same zero-shot model and recipe)")
    else:
        run_finetune("end-to-end", ft, zeroshot, target, work, quiet)
        log(f"fine-tuned {target.name} (end-to-end, seed {ft.seed})")
    return target


def spread_checkpoint(work: Path, pretrain_seed: int, seed: int) -> Path:
    """Where end-to-end fine-tunes of other seeds are kept (outside the assets), shared by build and seeds."""
    return work / f"finetuned_p{pretrain_seed}_s{seed}.safetensors"


def resumable_sweep(csv_path: Path, recipe: BuildRecipe, zeroshot: Path, pairs: list[Path], resume: bool,
                    log: Callable[[str], None]) -> None:
    """Keep a per-run sweep CSV to resume only if it measured these checkpoints on today's world; else remove it.

    ``wiseft sweep`` skips rows already in its CSV, so a stale file (another look, other checkpoints)
    would silently mix worlds: the JSON beside it records what the rows were measured on.
    """
    from wiseft_core.files.digests import file_sha256

    made_on = {"look": world.LOOK.to_dict(), "cue_strength": dict(world.CUE_STRENGTH),
               "split_sizes": dict(world.DEFAULT_SIZES), "alphas": recipe.alphas,
               "checkpoints": [file_sha256(p) for p in [zeroshot, *pairs]]}
    made_on = json.loads(json.dumps(made_on))
    stamp = csv_path.with_suffix(".json")
    if resume and csv_path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == made_on:
        log(f"resuming {csv_path.name} (same world and checkpoints)")
        return
    csv_path.unlink(missing_ok=True)
    stamp.write_text(json.dumps(made_on, indent=1) + "\n", encoding="utf-8")


def run_sweeps(recipe: BuildRecipe, zeroshot: Path, pairs: list[Path], target: Path, quiet: bool,
               ensembles: tuple[str, ...] = ("weights", "outputs")) -> None:
    """``wiseft sweep`` of each pair over every distribution (weight- and output-space) into ``target``."""
    from wiseft_core.engine.alphas import parse_alphas
    from wiseft_core.evaluate.sweep import SweepConfig, run_sweep

    for finetuned in pairs:
        run_sweep(SweepConfig(
            zeroshot=str(zeroshot), finetuned=str(finetuned), evals=list(recipe.evals),
            out=str(target), alphas=parse_alphas(recipe.alphas), ensembles=list(ensembles),
            reference=f"demo:{world.REFERENCE}", device="cpu", progress=not quiet,
        ))


def build(out: Path = DEFAULT_OUT, quick: bool = False, quiet: bool = False, reuse_pretrained: bool = False,
          seeds_work: Path | None = None, reuse_finetuned: bool = False, threads: int | None = None) -> dict:
    """Run the whole pipeline into ``out``; returns (and writes to ``build.json``) what was done and how long.

    The extra fine-tuning seeds are kept in ``seeds_work`` (default: beside ``out`` in the temp folder),
    where ``wiseft demo seeds`` and a later build reuse them while the zero-shot file and recipe match.
    """
    recipe = QUICK if quick else FULL
    if threads is not None:
        recipe = replace(recipe, threads=threads)
    torch.set_num_threads(recipe.threads)
    with world.default_sizes(**recipe.split_sizes):
        return _build(recipe, out, quick, quiet, reuse_pretrained, seeds_work or default_seeds_work(out),
                      reuse_finetuned)


def default_seeds_work(out: Path) -> Path:
    """A per-output-folder cache outside the repository (fine-tunes are 2.7 MB each and not shipped)."""
    import hashlib

    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"wiseft-demo-seeds-{key}"


def _build(recipe: BuildRecipe, out: Path, quick: bool, quiet: bool, reuse_pretrained: bool,
           seeds_work: Path, reuse_finetuned: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    stale = ["sweep.csv"] + ([] if reuse_finetuned else
                             ["zeroshot.safetensors", "finetuned.safetensors", "finetuned_linear.safetensors"])
    for name in stale:
        (out / name).unlink(missing_ok=True)
    log = BuildLog(out / "build.log")
    log(f"wiseft demo build{' --quick' if quick else ''} -> {out}")
    timings: dict[str, float] = {}
    write_samples(out / "samples")
    log(f"wrote samples/ ({len(world.DISTRIBUTIONS) * len(SAMPLE_INDICES)} PNGs)")
    timings.update(build_zeroshot(recipe, out, log, reuse=reuse_pretrained, keep=reuse_finetuned))
    zeroshot = out / "zeroshot.safetensors"
    with tempfile.TemporaryDirectory(prefix="wiseft-demo-") as tmp:
        work = Path(tmp)
        for mode, ft, name in (("end-to-end", recipe.end_to_end, "finetuned.safetensors"),
                               ("linear", recipe.linear, "finetuned_linear.safetensors")):
            tick = time.perf_counter()
            if reuse_finetuned and finetune_matches(out / name, zeroshot, mode, ft):
                log(f"keeping {name} (same zero-shot model and recipe)")
                continue
            run_finetune(mode, ft, zeroshot, out / name, work, quiet)
            timings[f"finetune_{mode}_s"] = round(time.perf_counter() - tick, 1)
            log(f"fine-tuned {mode} in {timings[f'finetune_{mode}_s']:.0f}s; wrote {name}")
        tick = time.perf_counter()
        seeds_work.mkdir(parents=True, exist_ok=True)
        runs = [(str(recipe.end_to_end.seed), seeds_work / f"sweep_seed{recipe.end_to_end.seed}.csv")]
        main_pairs = [out / "finetuned.safetensors", out / "finetuned_linear.safetensors"]
        resumable_sweep(runs[0][1], recipe, zeroshot, main_pairs, resume=reuse_finetuned, log=log)
        run_sweeps(recipe, zeroshot, main_pairs, runs[0][1], quiet)
        timings["sweep_s"] = round(time.perf_counter() - tick, 1)
        log(f"swept both pairs in {timings['sweep_s']:.0f}s")
        for seed in recipe.spread_seeds:
            tick = time.perf_counter()
            spread_ft = reuse_or_finetune(replace(recipe.end_to_end, seed=seed), zeroshot,
                                          spread_checkpoint(seeds_work, recipe.pretrain.seed, seed), work, quiet, log)
            runs.append((str(seed), seeds_work / f"sweep_seed{seed}.csv"))
            resumable_sweep(runs[-1][1], recipe, zeroshot, [spread_ft], resume=reuse_finetuned, log=log)
            run_sweeps(recipe, zeroshot, [spread_ft], runs[-1][1], quiet, ensembles=("weights",))
            timings[f"spread_seed{seed}_s"] = round(time.perf_counter() - tick, 1)
            log(f"fine-tuned and swept end-to-end seed {seed} in {timings[f'spread_seed{seed}_s']:.0f}s")
        write_sweep_csv(out / "sweep.csv", merge_sweeps(runs))
        log(f"wrote sweep.csv (seeds {', '.join(seed for seed, _ in runs)})")
    log(f"wrote {write_preview(out).name} (the Playground's first answer while a new server loads PyTorch)")
    timings["total_s"] = log.elapsed()
    info = {"quick": quick, "reuse_pretrained": reuse_pretrained, "reuse_finetuned": reuse_finetuned,
            "recipe": recipe.to_dict(), "timings": timings, "world_seed": world.WORLD_SEED,
            "look": world.LOOK.to_dict(), "cue_strength": dict(world.CUE_STRENGTH),
            "world_fingerprint": world_fingerprint(),
            "torch": torch.__version__, "python": platform.python_version(), "threads": recipe.threads}
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if not quick:
        from wiseft_core.demo.findings import results_markdown

        (out / "RESULTS.md").write_text(results_markdown(out / "sweep.csv"), encoding="utf-8")
        log("wrote RESULTS.md (tables at alpha 0, 0.25, 0.5, 0.75, 1 and the findings)")
    log(f"done in {timings['total_s']:.0f}s")
    return info
