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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from wiseft_core.demo import world
from wiseft_core.demo.model_config import MODEL_NAME, register
from wiseft_core.demo.pretrain import PretrainRecipe, generate_pairs, pretrain

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "assets" / "demo"
PRETRAINED_TAG = "wiseft-demo-world"  # not an open_clip tag: the weights exist only in these files
SAMPLE_INDICES = (1, 6, 13, 28, 36)  # test images: large circle, small plus, large star, small ring, small crescent
CLIP_FILE = "pretrained_clip.safetensors"  # both towers: lets a rebuild skip pretraining (--reuse-pretrained)
CLIP_METADATA_KEY = "wiseft_demo_clip"
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

    def to_dict(self) -> dict:
        return asdict(self)


FULL = BuildRecipe(
    pretrain=PretrainRecipe(pairs=200_000, steps=1600, batch_size=256, lr=1e-3, warmup_steps=200, seed=0),
    end_to_end=FinetuneRecipe(lr=5e-4, steps=400, warmup=40, batch_size=128),
    linear=FinetuneRecipe(lr=1e-2, steps=1000, warmup=100, batch_size=512),
)
QUICK = BuildRecipe(
    pretrain=PretrainRecipe(pairs=2_000, steps=30, batch_size=64, lr=1e-3, warmup_steps=5, seed=0),
    end_to_end=FinetuneRecipe(lr=5e-4, steps=8, warmup=2, batch_size=32),
    linear=FinetuneRecipe(lr=1e-2, steps=20, warmup=2, batch_size=128),
    alphas="0,0.5,1",
    split_sizes={"train": 2000, "val": 100, "test": 100},
    threads=1,
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

    from wiseft_core.models import create_clip

    with safe_open(str(path), "pt") as handle:
        info = json.loads(handle.metadata()[CLIP_METADATA_KEY])
    clip_model, _, preprocessing = create_clip(MODEL_NAME, None, model_config=info["model_config"])
    clip_model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()})
    return clip_model.eval(), info, preprocessing


def pretrain_clip(recipe: BuildRecipe, path: Path, log: Callable[[str], None]) -> dict:
    """Generate pairs, pretrain ``demo-clip`` contrastively, save it to ``path``; returns its info."""
    from wiseft_core.models import create_clip

    config = register()
    started = time.perf_counter()
    images, tokens, _ = generate_pairs(recipe.pretrain.pairs, seed=recipe.pretrain.seed, workers=recipe.threads,
                                       progress=log)
    generated = time.perf_counter()
    log(f"generated {len(images)} image-caption pairs in {generated - started:.0f}s")
    clip_model, config, preprocessing = create_clip(MODEL_NAME, None, seed=recipe.pretrain.seed, model_config=config)
    loss_log = pretrain(clip_model, images, tokens, recipe.pretrain, preprocessing.mean, preprocessing.std,
                        progress=log)
    pretrained = time.perf_counter()
    info = {"model_config": config, "world_seed": world.WORLD_SEED, "pretrain": recipe.pretrain.to_dict(),
            "final_loss": loss_log[-1]["loss"], "logit_scale": loss_log[-1]["logit_scale"],
            "pretrain_seconds": round(pretrained - generated, 1), "generate_seconds": round(generated - started, 1),
            "threads": torch.get_num_threads()}
    save_clip(path, clip_model, info)
    log(f"pretrained in {pretrained - generated:.0f}s (loss {info['final_loss']}, "
        f"logit scale {info['logit_scale']}); wrote {path.name}")
    return info


def build_zeroshot(recipe: BuildRecipe, out: Path, log: Callable[[str], None], reuse: bool = False) -> dict:
    """Pretrain (or, with ``reuse``, reload a matching pretrained CLIP) and save the zero-shot classifier."""
    from wiseft_core.zeroshot import build_zeroshot_checkpoint

    clip_path = out / CLIP_FILE
    info = None
    if reuse and clip_path.is_file():
        _, info, _ = load_clip(clip_path)
        if info.get("pretrain") != json.loads(json.dumps(recipe.pretrain.to_dict())):
            log(f"{clip_path.name} was pretrained with another recipe; pretraining again")
            info = None
        else:
            log(f"reusing {clip_path.name} (same pretraining recipe)")
    if info is None:
        info = pretrain_clip(recipe, clip_path, log)
    clip_model, info, preprocessing = load_clip(clip_path)  # fp16-rounded, exactly what a reuse would load
    build_zeroshot_checkpoint(MODEL_NAME, world.CLASSNAMES, list(world.TEMPLATES), PRETRAINED_TAG,
                              clip=(clip_model, info["model_config"], preprocessing), tokenizer=world.tokenizer(),
                              extra={"demo_world": {k: v for k, v in info.items() if k != "model_config"}},
                              out=out / "zeroshot.safetensors", dtype=torch.float16)
    log("wrote zeroshot.safetensors")
    return {"generate_s": info["generate_seconds"], "pretrain_s": info["pretrain_seconds"]}


def run_finetune(mode: str, ft: FinetuneRecipe, zeroshot: Path, target: Path, work: Path, quiet: bool) -> None:
    """``wiseft finetune --train demo:photo`` with the demo recipe; keeps only the final checkpoint."""
    from dataclasses import asdict

    from wiseft_core.finetune import FinetuneConfig, finetune

    run_dir = work / mode
    final = finetune(FinetuneConfig(
        zeroshot=str(zeroshot), train=f"demo:{world.REFERENCE}", out=str(run_dir), mode=mode, **asdict(ft),
        device="cpu", save_dtype="float16", keep_epochs=1, progress=not quiet,
    ))
    shutil.copyfile(final, target)


def run_sweeps(recipe: BuildRecipe, out: Path, pairs: list[Path], quiet: bool) -> None:
    """``wiseft sweep`` of each pair over every distribution, weight- and output-space, into sweep.csv."""
    from wiseft_core.sweep import SweepConfig, parse_alphas, run_sweep

    for finetuned in pairs:
        run_sweep(SweepConfig(
            zeroshot=str(out / "zeroshot.safetensors"), finetuned=str(finetuned), evals=list(recipe.evals),
            out=str(out / "sweep.csv"), alphas=parse_alphas(recipe.alphas), ensembles=["weights", "outputs"],
            reference=f"demo:{world.REFERENCE}", device="cpu", progress=not quiet,
        ))


def build(out: Path = DEFAULT_OUT, quick: bool = False, quiet: bool = False, reuse_pretrained: bool = False) -> dict:
    """Run the whole pipeline into ``out``; returns (and writes to ``build.json``) what was done and how long."""
    recipe = QUICK if quick else FULL
    torch.set_num_threads(recipe.threads)
    with world.default_sizes(**recipe.split_sizes):
        return _build(recipe, out, quick, quiet, reuse_pretrained)


def _build(recipe: BuildRecipe, out: Path, quick: bool, quiet: bool, reuse_pretrained: bool) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("sweep.csv", "zeroshot.safetensors", "finetuned.safetensors", "finetuned_linear.safetensors"):
        (out / stale).unlink(missing_ok=True)
    log = BuildLog(out / "build.log")
    log(f"wiseft demo build{' --quick' if quick else ''} -> {out}")
    timings: dict[str, float] = {}
    write_samples(out / "samples")
    log(f"wrote samples/ ({len(world.DISTRIBUTIONS) * len(SAMPLE_INDICES)} PNGs)")
    timings.update(build_zeroshot(recipe, out, log, reuse=reuse_pretrained))
    with tempfile.TemporaryDirectory(prefix="wiseft-demo-") as work:
        for mode, ft, name in (("end-to-end", recipe.end_to_end, "finetuned.safetensors"),
                               ("linear", recipe.linear, "finetuned_linear.safetensors")):
            tick = time.perf_counter()
            run_finetune(mode, ft, out / "zeroshot.safetensors", out / name, Path(work), quiet)
            timings[f"finetune_{mode}_s"] = round(time.perf_counter() - tick, 1)
            log(f"fine-tuned {mode} in {timings[f'finetune_{mode}_s']:.0f}s; wrote {name}")
    tick = time.perf_counter()
    run_sweeps(recipe, out, [out / "finetuned.safetensors", out / "finetuned_linear.safetensors"], quiet)
    timings["sweep_s"] = round(time.perf_counter() - tick, 1)
    log(f"swept both pairs in {timings['sweep_s']:.0f}s; wrote sweep.csv")
    timings["total_s"] = log.elapsed()
    info = {"quick": quick, "recipe": recipe.to_dict(), "timings": timings, "world_seed": world.WORLD_SEED,
            "torch": torch.__version__, "python": platform.python_version(), "threads": recipe.threads}
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if not quick:
        from wiseft_core.demo.findings import results_markdown

        (out / "RESULTS.md").write_text(results_markdown(out / "sweep.csv"), encoding="utf-8")
        log("wrote RESULTS.md (tables at alpha 0, 0.25, 0.5, 0.75, 1 and the findings)")
    log(f"done in {timings['total_s']:.0f}s")
    return info
