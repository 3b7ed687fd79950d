"""Fine-tuning a zero-shot classifier: end-to-end (the paper's recipe) or a linear classifier on frozen features.

End-to-end: image tower + head initialised from the zero-shot head, AdamW (0.9, 0.999), weight decay
0.1, lr 3e-5, cosine schedule with 500 warm-up steps, grad-norm clip 1.0, CLIP's random-resized-crop.
Linear: the tower is frozen, features of the (unaugmented) training set are computed once and cached
on disk, and only the head is trained, starting from the zero-shot head.

Runs in one process or under ``torchrun`` (DistributedDataParallel; every global batch holds the same
images for any number of processes, and each image's augmentation is seeded by (seed, epoch, index),
so N processes follow the one-process trajectory). An "epoch" is one pass over the training set; with
``--steps`` training stops after that many optimizer steps and the last, partial epoch is saved too.
After every epoch the classifier (``epoch_NNN.safetensors``) and then the training state
(``train_state.safetensors``: optimizer moments, step, RNG, as tensors + JSON, no pickle) are written
atomically; ``--resume`` continues from the last complete epoch, so a kill mid-epoch loses only that
epoch's progress. The last partial batch of every pass is dropped: a fixed global batch is what lets
N processes follow the one-process trajectory. Training is fp32 (as the reference trains) unless
``--precision bf16`` asks for bf16 autocast; the recipe records which.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from wiseft_core import distributed
from wiseft_core.data.datasets import LoadedDataset, load_dataset
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate.evaluation import PreparedImages, Unreadable, collate_readable
from wiseft_core.evaluate.results import FINETUNING_LABELS
from wiseft_core.files.checkpoints import CheckpointMeta, file_sha256, save_classifier, write_atomically
from wiseft_core.files.reader import load_classifier

MODES = ("end-to-end", "linear")
PRECISIONS = ("fp32", "bf16")
BATCHNORM_MODES = ("train", "frozen")  # train: statistics update; frozen: running statistics stay fixed
SAVE_DTYPES = ("float32", "float16", "bfloat16")
DEFAULT_LR = {"end-to-end": 3e-5, "linear": 1e-3}
STATE_FILE = "train_state.safetensors"
FINAL_FILE = "finetuned.safetensors"
FEATURES_FILE = "features_train.safetensors"
STATE_KEY = "wiseft_train_state"
WEIGHTS_PREFIX = "weights."  # full-precision trained weights inside the training state


def _option(default, help: str, resume: bool = False, **argparse_kwargs):
    """A config field that is also a ``wiseft finetune`` flag; ``resume``: a resumed run must keep its value."""
    return dataclasses.field(default=default, metadata={"help": help, "resume": resume, "argparse": argparse_kwargs})


@dataclass
class FinetuneConfig:
    """Every fine-tuning option, declared once: the CLI's flags and the resume check are derived from it."""

    zeroshot: str = dataclasses.field(metadata={"help": "zero-shot classifier checkpoint (.safetensors)"})
    train: str = dataclasses.field(metadata={"help": "training set: {datasets} (train split)", "resume": True})
    out: str = dataclasses.field(metadata={"help": "output folder: epoch checkpoints, finetuned.safetensors, log"})
    mode: str = _option("end-to-end", "end-to-end (the paper) or a linear classifier on frozen features",
                        resume=True, choices=MODES)
    lr: float | None = _option(None, "peak learning rate (default 3e-5 end-to-end, 1e-3 linear)", resume=True,
                               type=float)
    wd: float = _option(0.1, "AdamW weight decay (default 0.1)", resume=True, type=float)
    epochs: int | None = _option(None, "passes over the training set (default 10)", resume=True, type=int)
    steps: int | None = _option(None, "optimizer steps instead of epochs (checkpoints still after every pass "
                                "over the data)", resume=True, type=int)
    warmup: int = _option(500, "linear warm-up steps before the cosine decay", resume=True, type=int)
    batch_size: int = _option(512, "global batch size (split over processes); the last partial batch of each "
                              "pass is dropped", resume=True, type=int)
    label_smoothing: float = _option(0.0, "label smoothing of the cross-entropy loss", resume=True, type=float)
    batchnorm: str = _option("train", "BatchNorm running statistics: updated (train) or fixed (frozen)",
                             resume=True, choices=BATCHNORM_MODES)
    grad_clip: float = _option(1.0, "gradient-norm clip (default 1.0)", resume=True, type=float)
    precision: str = _option("fp32", "fp32 (the reference's) or bf16 autocast", resume=True, choices=PRECISIONS)
    seed: int = _option(0, "seed of the batch order, the augmentation and the initial RNG", resume=True, type=int)
    device: str | None = _option("auto", "auto (CUDA if available), cpu, cuda, cuda:1, ...")
    workers: int = _option(0, "data-loading worker processes", type=int)
    resume: bool = _option(False, "continue the run in --out from its last complete epoch", action="store_true")
    log: str | None = _option(None, "JSONL log file (default OUT/train_log.jsonl)")
    keep_epochs: int = _option(0, "keep only the newest N epoch checkpoints (0: all)", type=int)
    save_dtype: str = _option("float32", "storage dtype of floating tensors in saved checkpoints (loading "
                              "restores fp32; the training state keeps fp32)", choices=SAVE_DTYPES)
    log_every: int = _option(10, "write a log record every N steps", type=int)
    progress: bool = True

    def resolved(self) -> FinetuneConfig:
        for flag, value, allowed in (("--mode", self.mode, MODES), ("--batchnorm", self.batchnorm, BATCHNORM_MODES),
                                     ("--precision", self.precision, PRECISIONS),
                                     ("--save-dtype", self.save_dtype, SAVE_DTYPES)):
            if value not in allowed:
                raise WiseftError(f"{flag} {value!r}: expected one of {', '.join(allowed)}")
        if self.epochs is not None and self.steps is not None:
            raise WiseftError("give either --epochs or --steps, not both")
        _check_number("--lr", self.lr, minimum=0.0, inclusive=False)
        _check_number("--wd", self.wd, minimum=0.0)
        _check_number("--label-smoothing", self.label_smoothing, minimum=0.0, maximum=1.0)
        _check_number("--grad-clip", self.grad_clip, minimum=0.0, inclusive=False)
        for flag, value, minimum in (("--epochs", self.epochs, 1), ("--steps", self.steps, 1),
                                     ("--batch-size", self.batch_size, 1), ("--warmup", self.warmup, 0),
                                     ("--workers", self.workers, 0), ("--keep-epochs", self.keep_epochs, 0),
                                     ("--log-every", self.log_every, 1)):
            if value is not None and value < minimum:
                raise WiseftError(f"{flag} {value}: must be at least {minimum}")
        lr = DEFAULT_LR[self.mode] if self.lr is None else self.lr
        epochs = 10 if self.epochs is None and self.steps is None else self.epochs
        return dataclasses.replace(self, lr=lr, epochs=epochs)

    def hyper_parameters(self) -> dict:
        return {k: getattr(self, k) for k in RESUME_KEYS}


# Hyper-parameters a resumed run must share with the run it continues.
RESUME_KEYS = tuple(f.name for f in dataclasses.fields(FinetuneConfig) if f.metadata.get("resume"))


def _check_number(flag: str, value: float | None, minimum: float, maximum: float | None = None,
                  inclusive: bool = True) -> None:
    """A finite float within range, or a one-line error naming the flag (NaN would train silently to NaN)."""
    if value is None:
        return
    low_ok = value >= minimum if inclusive else value > minimum
    if not math.isfinite(value) or not low_ok or (maximum is not None and value >= maximum):
        bound = f"{'at least' if inclusive else 'greater than'} {minimum:g}"
        if maximum is not None:
            bound += f" and less than {maximum:g}"
        raise WiseftError(f"{flag} {value}: must be a finite number {bound}")


def cosine_lr(step: int, base_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up to ``base_lr`` over ``warmup`` steps, then cosine decay to 0 at ``total`` (wise-ft's)."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * base_lr


class AugmentedImages(Dataset):
    """Training items addressed as ``(epoch, index)``; the augmentation RNG is seeded from (seed, epoch, index)
    so any process count, worker count or resume point sees the same crops."""

    def __init__(self, loaded: LoadedDataset, transform: Callable, seed: int):
        self.prepared = PreparedImages(loaded, transform)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.prepared)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(((self.seed * 1_000_003 + epoch) * 10_000_019 + index) % (1 << 63))
            return self.prepared[index]


class _EpochKeys:
    """Wraps a GlobalBatchSampler so each index carries its epoch (for the augmentation seed)."""

    def __init__(self, sampler: distributed.GlobalBatchSampler):
        self.sampler = sampler

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        epoch = self.sampler.epoch
        for batch in self.sampler:
            yield [(epoch, i) for i in batch]


class JsonlLog:
    """Append-only JSONL training log (main rank only)."""

    def __init__(self, path: Path | None):
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        if self.path is None:
            return
        record = {"time": round(time.time(), 3), **record}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------- training state (no pickle)

def save_state(path: Path, optimizer: torch.optim.Optimizer, info: dict,
               weights: dict[str, torch.Tensor] | None = None) -> None:
    """Weights, optimizer moments and RNG as tensors, the rest as JSON in the safetensors header; atomic."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {f"{WEIGHTS_PREFIX}{k}": v.detach().cpu().contiguous()
                                        for k, v in (weights or {}).items()}
    scalars: dict[str, dict] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {**info, "param_groups": state["param_groups"], "optimizer_scalars": scalars}
    write_atomically(path, safetensors_save(tensors, metadata={STATE_KEY: json.dumps(meta)}))


def load_state(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            info = json.loads(handle.metadata()[STATE_KEY])
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # any unreadable state file gets the same actionable message
        raise WiseftError(f"cannot read training state {path} ({err}); delete it to start over") from None
    return info, tensors


def restore_optimizer(optimizer: torch.optim.Optimizer, info: dict, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, entry in info.get("optimizer_scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def _restore_weights(trainable: nn.Module, model: nn.Module, epoch_file: Path, tensors: dict[str, torch.Tensor],
                     device: torch.device) -> None:
    """The trained weights as they were in memory; states written before they were kept use the epoch file."""
    weights = {k[len(WEIGHTS_PREFIX):]: v for k, v in tensors.items() if k.startswith(WEIGHTS_PREFIX)}
    if weights:
        trainable.load_state_dict(weights)
    else:
        model.load_state_dict(load_classifier(epoch_file, device=device).model.state_dict())


# ---------------------------------------------------------------------------- the run

def _freeze_batchnorm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def _epoch_path(out: Path, epoch: int) -> Path:
    return out / f"epoch_{epoch:03d}.safetensors"


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune ``config.zeroshot`` on ``config.train``; returns the path of ``finetuned.safetensors``."""
    cfg = config.resolved()
    env = distributed.setup(cfg.device)
    out = Path(cfg.out)
    resume = _resume_point(cfg, out)
    zeroshot = load_classifier(cfg.zeroshot, device=env.device)
    source_sha = file_sha256(cfg.zeroshot)
    if resume is not None:
        started_from = resume.info.get("zeroshot_sha256")
        if started_from is not None and started_from != source_sha:
            raise WiseftError(f"--resume: --zeroshot {cfg.zeroshot} (sha256 {source_sha[:12]}) is not the checkpoint "
                              f"the run in {out} started from (sha256 {started_from[:12]}); pass that one")
        if resume.info.get("done") and (out / FINAL_FILE).is_file():
            if env.is_main:
                print(f"wiseft finetune: {out / FINAL_FILE} is already complete", file=sys.stderr)
            return out / FINAL_FILE
    run = _prepare_run(cfg, env, out, zeroshot, source_sha, resume)
    log = JsonlLog((Path(cfg.log) if cfg.log else out / "train_log.jsonl") if env.is_main else None)
    if env.is_main:
        log.write(event="start", resumed_from_epoch=run.start_epoch if resume else None, **run.recipe)
    _train(run, cfg, env, out, log)
    final = out / FINAL_FILE
    if env.is_main and not final.is_file():  # a run resumed after its last epoch but before the final copy
        save_classifier(final, run.model.state_dict(), _epoch_meta(run, run.num_epochs), dtype=_storage_dtype(cfg))
    if env.is_main:
        log.write(event="done", step=run.step, checkpoint=FINAL_FILE)
        print(f"wiseft finetune: wrote {final}", file=sys.stderr)
    distributed.barrier()
    return final


@dataclass
class _Resume:
    """The training state of the run ``--resume`` continues: JSON info and its tensors."""

    info: dict
    tensors: dict[str, torch.Tensor]


def _resume_point(cfg: FinetuneConfig, out: Path) -> _Resume | None:
    """None for a fresh run; the saved state for ``--resume``; an error for anything in between."""
    state_path = out / STATE_FILE
    if not state_path.is_file():
        return None
    if not cfg.resume:
        raise WiseftError(f"{out} already holds a fine-tuning run ({STATE_FILE}); pass --resume to continue "
                          "it or choose another --out")
    info, tensors = load_state(state_path)
    saved, current = info["config"], cfg.hyper_parameters()
    changed = [k for k in RESUME_KEYS if k in saved and saved[k] != current[k]]  # states predating a key skip it
    if changed:
        listed = ", ".join(f"{k}={saved[k]!r}" for k in changed)
        raise WiseftError(f"--resume: {', '.join(changed)} differ(s) from the run in {out} (saved: {listed})")
    return _Resume(info, tensors)


@dataclass
class _Run:
    """Everything the training loop needs, built once by :func:`_prepare_run`."""

    model: nn.Module  # the classifier being trained (what is saved)
    trainable: nn.Module  # the part with gradients: the whole model, or only the head in linear mode
    forward: Callable  # what a batch goes through: the model, its DDP wrapper, or the head on cached features
    optimizer: torch.optim.Optimizer
    sampler: distributed.GlobalBatchSampler
    batches: Callable  # (epoch, unreadable) -> iterator of (inputs, targets)
    zs_meta: CheckpointMeta
    recipe: dict
    total_steps: int
    num_epochs: int
    start_epoch: int = 0
    step: int = 0


def _recipe(cfg: FinetuneConfig, env: distributed.DistEnv, total_steps: int, steps_per_epoch: int,
            source_sha: str) -> dict:
    """What the checkpoint's metadata says about how it was trained (enough to rerun it)."""
    return {
        "finetuning": FINETUNING_LABELS[cfg.mode], **cfg.hyper_parameters(), "betas": [0.9, 0.999], "eps": 1e-8,
        "schedule": "cosine with linear warm-up", "optimizer": "AdamW", "total_steps": total_steps,
        "steps_per_epoch": steps_per_epoch, "world_size": env.world_size,
        "precision": "bf16 autocast" if cfg.precision == "bf16" else "fp32",
        "augmentation": ("none (cached features, eval transform)" if cfg.mode == "linear"
                         else "open_clip RandomResizedCrop (train transform)"),
        "zeroshot": Path(cfg.zeroshot).name, "zeroshot_sha256": source_sha,
    }


def _prepare_run(cfg: FinetuneConfig, env: distributed.DistEnv, out: Path, zeroshot, source_sha: str,
                 resume: _Resume | None) -> _Run:
    """Model, data, optimizer and recipe for ``cfg``, restored to the saved step when resuming."""
    loaded = load_dataset(cfg.train, split="train")
    loaded.check_classifier_width(zeroshot.model.num_classes, zeroshot.meta.classnames)
    model = zeroshot.model
    # Linear mode trains (and its state keeps) only the head; the tower stays the zero-shot one.
    trainable = model.head if cfg.mode == "linear" else model
    if resume is not None:
        _restore_weights(trainable, model, out / resume.info["checkpoint"], resume.tensors, env.device)
    torch.manual_seed(cfg.seed)

    if cfg.mode == "linear":
        features, labels = _cached_features(zeroshot, loaded, cfg, out, source_sha, env)
        model.requires_grad_(False)
        trainable.requires_grad_(True)
        forward = trainable
        n = len(labels)
    else:
        model.requires_grad_(True)
        forward = model
        if env.distributed:
            if env.device.type == "cuda" and cfg.batchnorm == "train":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            forward = nn.parallel.DistributedDataParallel(
                model, device_ids=[env.device.index] if env.device.type == "cuda" else None)
            trainable = model
        n = len(loaded)

    sampler = distributed.GlobalBatchSampler(
        n, cfg.batch_size, rank=0 if cfg.mode == "linear" else env.rank,
        world_size=1 if cfg.mode == "linear" else env.world_size, seed=cfg.seed)
    steps_per_epoch = len(sampler)
    total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW([p for p in trainable.parameters() if p.requires_grad], lr=cfg.lr,
                                  betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.wd)
    if cfg.mode == "linear":
        batches = _feature_batches(features, labels, sampler)
    else:
        dataset = AugmentedImages(loaded, zeroshot.meta.preprocessing.train_transform(), cfg.seed)
        loader = DataLoader(dataset, batch_sampler=_EpochKeys(sampler), num_workers=cfg.workers,
                            collate_fn=collate_readable, pin_memory=env.device.type == "cuda")
        batches = _image_batches(loader, loaded)
    recipe = _recipe(cfg, env, total_steps, steps_per_epoch, source_sha)
    run = _Run(model, trainable, forward, optimizer, sampler, batches, zeroshot.meta, recipe, total_steps,
               num_epochs=math.ceil(total_steps / steps_per_epoch))
    if resume is not None:
        restore_optimizer(optimizer, resume.info, resume.tensors)
        torch.set_rng_state(resume.tensors["rng.torch"])
        run.start_epoch, run.step = resume.info["epoch"], resume.info["step"]
        if env.is_main:
            print(f"wiseft finetune: resuming after epoch {run.start_epoch} (step {run.step}/{total_steps})",
                  file=sys.stderr)
    return run


def _train(run: _Run, cfg: FinetuneConfig, env: distributed.DistEnv, out: Path, log: JsonlLog) -> None:
    """The loop: per step the scheduled lr, forward, loss, backward, clip, AdamW; per epoch a checkpoint."""
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    bar = tqdm(total=run.total_steps, initial=run.step, desc=f"finetune ({cfg.mode})", unit="step",
               disable=not (cfg.progress and env.is_main), file=sys.stderr)
    unreadable = Unreadable()
    for epoch in range(run.start_epoch, run.num_epochs):
        run.sampler.set_epoch(epoch)
        run.model.train(cfg.mode == "end-to-end")  # linear: the frozen tower never runs here anyway
        if cfg.mode == "end-to-end" and cfg.batchnorm == "frozen":
            _freeze_batchnorm(run.model)
        epoch_loss, epoch_steps, tick, seen = 0.0, 0, time.perf_counter(), 0
        for inputs, targets in run.batches(epoch, unreadable):
            if run.step >= run.total_steps:
                break
            lr = cosine_lr(run.step, cfg.lr, cfg.warmup, run.total_steps)
            for group in run.optimizer.param_groups:
                group["lr"] = lr
            inputs, targets = inputs.to(env.device, non_blocking=True), targets.to(env.device)
            with torch.autocast(device_type=env.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                logits = run.forward(inputs)
            loss = criterion(logits.float(), targets)
            run.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(run.trainable.parameters(), cfg.grad_clip)
            run.optimizer.step()
            run.step += 1
            epoch_steps += 1
            loss_value = loss.item()
            epoch_loss += loss_value
            seen += len(targets) * (env.world_size if cfg.mode == "end-to-end" else 1)
            rate = seen / max(1e-9, time.perf_counter() - tick)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}", img_s=f"{rate:.0f}")
            if env.is_main and (run.step % cfg.log_every == 0 or run.step == run.total_steps):
                log.write(event="step", step=run.step, epoch=epoch + 1, loss=round(loss_value, 6), lr=lr,
                          grad_norm=round(float(grad_norm), 6), img_per_s=round(rate, 1))
        if env.is_main:
            _save_epoch(out, run, cfg, epoch + 1)
            log.write(event="epoch", epoch=epoch + 1, step=run.step, checkpoint=_epoch_path(out, epoch + 1).name,
                      mean_loss=round(epoch_loss / max(1, epoch_steps), 6), unreadable_images=unreadable.count)
        distributed.barrier()
    bar.close()
    unreadable.warn(cfg.train)


def _storage_dtype(cfg: FinetuneConfig) -> torch.dtype | None:
    """The dtype checkpoints are saved in (None: as trained, fp32)."""
    return None if cfg.save_dtype == "float32" else getattr(torch, cfg.save_dtype)


def _save_epoch(out: Path, run: _Run, cfg: FinetuneConfig, epoch: int) -> None:
    """Classifier first, then the state that points at it: a crash between the two loses nothing saved.

    The state keeps the trained weights in full precision: with ``--save-dtype float16`` the epoch
    checkpoint is rounded, and resuming from it would not continue the uninterrupted run.
    """
    done = run.step >= run.total_steps
    meta, dtype = _epoch_meta(run, epoch), _storage_dtype(cfg)
    save_classifier(_epoch_path(out, epoch), run.model.state_dict(), meta, dtype=dtype)
    if done:
        save_classifier(out / FINAL_FILE, run.model.state_dict(), meta, dtype=dtype)
    save_state(out / STATE_FILE, run.optimizer, {"epoch": epoch, "step": run.step, "done": done,
                                                 "checkpoint": _epoch_path(out, epoch).name,
                                                 "zeroshot_sha256": run.recipe["zeroshot_sha256"],
                                                 "config": cfg.hyper_parameters()},
               weights=run.trainable.state_dict())
    if cfg.keep_epochs > 0:
        for old in range(1, epoch - cfg.keep_epochs + 1):
            _epoch_path(out, old).unlink(missing_ok=True)


def _epoch_meta(run: _Run, epoch: int) -> CheckpointMeta:
    """The zero-shot checkpoint's metadata (model, classes, preprocessing) plus this run's recipe."""
    return dataclasses.replace(run.zs_meta, recipe={**run.recipe, "epoch": epoch, "step": run.step})


def _image_batches(loader: DataLoader, loaded: LoadedDataset):
    def batches(epoch: int, unreadable: Unreadable):
        for images, labels, _, bad in loader:
            if bad:
                unreadable.add([loaded.describe(i) for i in bad])
            if images is None:
                raise WiseftError(f"a whole training batch of {loaded.spec} is unreadable "
                                  f"(e.g. {loaded.describe(bad[0])})")
            yield images, labels
    return batches


def _feature_batches(features: torch.Tensor, labels: torch.Tensor, sampler: distributed.GlobalBatchSampler):
    def batches(epoch: int, unreadable: Unreadable):
        for index in sampler:
            index = torch.as_tensor(index, dtype=torch.long)
            yield features[index], labels[index]
    return batches


@torch.no_grad()
def _cached_features(zeroshot, loaded: LoadedDataset, cfg: FinetuneConfig, out: Path, source_sha: str,
                     env: distributed.DistEnv) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the unaugmented training set under the frozen tower, computed once (sharded) and cached."""
    path = out / FEATURES_FILE
    key = {"zeroshot_sha256": source_sha, "train": cfg.train, "n": len(loaded)}
    if path.is_file():
        with safe_open(str(path), framework="pt") as handle:
            if json.loads(handle.metadata().get("wiseft_features", "{}")) == key:
                return handle.get_tensor("features"), handle.get_tensor("labels")
    model = zeroshot.model.eval()
    shard = distributed.shard(len(loaded), env.rank, env.world_size)
    loader = DataLoader(PreparedImages(loaded, zeroshot.meta.preprocessing.eval_transform(), shard),
                        batch_size=256, num_workers=cfg.workers, collate_fn=collate_readable)
    dim = model.head.in_features
    features = torch.zeros(len(loaded), dim)
    labels_plus_one = torch.zeros(len(loaded), dtype=torch.long)  # 0 marks an unreadable image
    unreadable = Unreadable()
    for images, labels, indices, bad in tqdm(loader, desc="features", unit="batch", file=sys.stderr,
                                             disable=not (cfg.progress and env.is_main)):
        unreadable.add([loaded.describe(i) for i in bad])
        if images is not None:
            index = torch.as_tensor(indices, dtype=torch.long)
            features[index] = model.features(images.to(env.device)).float().cpu()
            labels_plus_one[index] = labels + 1
    # Each index belongs to exactly one rank, so a sum assembles the full table on every rank.
    features = distributed.all_reduce_sum(features)
    labels_plus_one = distributed.all_reduce_sum(labels_plus_one)
    keep = labels_plus_one > 0
    features, labels = features[keep].contiguous(), (labels_plus_one[keep] - 1).contiguous()
    unreadable.warn(cfg.train)
    if env.is_main:
        write_atomically(path, safetensors_save({"features": features, "labels": labels},
                                                metadata={"wiseft_features": json.dumps(key)}))
    return features.to(env.device), labels.to(env.device)
