"""Model soups (Wortsman et al., ICML 2022): the uniform and the greedy average of N fine-tunes of one start.

Uniform: the mean of every ingredient. Greedy (the paper's recipe): rank the ingredients by held-out
accuracy, start from the best, and add the next one when the uniform average of the soup with it raises
held-out accuracy. Ingredients are read one at a time into a float64 running sum, so a soup of 72 models
holds one sum, one ingredient and one model, never all 72; every candidate is ``(sum + theta_i) / (k + 1)``,
so the written soup is bit for bit the model whose held-out accuracy was measured. A greedy run keeps its
measurements in a small state file beside ``--out``: killed, it resumes where it stopped. The held-out
spec must differ from every test spec (choosing on the test set would report a biased soup).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from wiseft_core.data.datasets import load_dataset
from wiseft_core.devices import resolve_device
from wiseft_core.errors import WiseftError
from wiseft_core.evaluate import evaluation
from wiseft_core.files.checkpoints import (
    CheckpointMeta,
    build_classifier,
    file_sha256,
    save_classifier,
    write_atomically,
)
from wiseft_core.files.reader import read_as_checkpoint

SOUP_METHODS = ("uniform", "greedy")
STATE_VERSION = 1


@dataclass
class SoupConfig:
    ingredients: list[str]
    out: str
    method: str = "uniform"
    eval: str | None = None  # held-out spec that ranks and chooses (greedy)
    tests: list[str] = field(default_factory=list)  # reported on the written soup, never used to choose
    classnames: str | None = None  # for ingredient files that store none (wise-ft, model-soups)
    batch_size: int = 256
    workers: int = 0
    device: str = "cpu"
    progress: bool = True
    state: str | None = None  # default: OUT + ".soup-state.json"


@dataclass
class Soup:
    """What ``run_soup`` wrote: the ingredients' weights, held-out and test accuracies."""

    path: Path
    weights: list[float]
    heldout: dict[str, float]  # sha256 -> held-out top-1 (greedy)
    heldout_top1: float | None
    test_top1: dict[str, float]


def _same_data(a: str, b: str) -> bool:
    """Whether two dataset specs name the same images (``demo:x`` is ``demo:x@test``; paths compared resolved)."""
    def key(spec: str) -> tuple:
        spec = spec.strip()
        if spec.startswith("demo:"):
            name, _, split = spec.partition("@")
            return name, split or "test"
        kind, _, path = spec.partition("=")
        return kind.strip().lower(), str(Path(path.strip()).expanduser().resolve()) if path else ""
    return key(a) == key(b)


def check_config(config: SoupConfig) -> None:
    """Every mistake a user can make in the command line, before anything is read."""
    if config.method not in SOUP_METHODS:
        raise WiseftError(f"--method {config.method!r}: expected {' or '.join(SOUP_METHODS)}")
    if len(config.ingredients) < 2:
        raise WiseftError(f"a soup needs at least two checkpoints, got {len(config.ingredients)}")
    if config.method == "greedy" and not config.eval:
        raise WiseftError("--method greedy needs a held-out --eval SPEC to choose the ingredients on")
    clash = next((t for t in config.tests if config.eval and _same_data(config.eval, t)), None)
    if clash is not None:
        raise WiseftError(f"--eval {config.eval!r} is also a --test set ({clash!r}): the held-out set that "
                          "chooses the soup must differ from every test set")


class Ingredients:
    """The ingredient files, read one at a time through the one reader; the first one's metadata rules."""

    def __init__(self, paths: list[str], classnames: str | None):
        self.paths = [str(p) for p in paths]
        self.classnames = classnames
        theta, self.meta = read_as_checkpoint(self.paths[0], classnames=classnames)
        self.dtypes = {k: v.dtype for k, v in theta.items()}
        self.sha256 = [file_sha256(p) for p in self.paths]
        seen: dict[str, str] = {}
        for path, sha in zip(self.paths, self.sha256):
            if sha in seen:
                raise WiseftError(f"{path} is the same file as {seen[sha]} (sha256 {sha[:12]}…): give each "
                                  "ingredient once")
            seen[sha] = path

    def read(self, index: int) -> dict[str, torch.Tensor]:
        theta, meta = read_as_checkpoint(self.paths[index], classnames=self.classnames, like=self.meta)
        if meta.classnames != self.meta.classnames or set(theta) != set(self.dtypes):
            raise WiseftError(f"{self.paths[index]} is not a fine-tune of the same classifier as {self.paths[0]} "
                              "(different classes or tensors)")
        return theta


def add_into(total: dict[str, torch.Tensor] | None, theta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The float64 running sum of the ingredients (non-floating tensors: the latest ingredient's)."""
    if total is None:
        return {k: v.double() if v.is_floating_point() else v.clone() for k, v in theta.items()}
    for key, value in theta.items():
        if value.is_floating_point():
            total[key] += value.double()
        else:
            total[key] = value.clone()
    return total


def mean_of(total: dict[str, torch.Tensor], count: int, dtypes: dict[str, torch.dtype],
            extra: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """``(total + extra) / count`` in each tensor's own dtype, computed tensor by tensor (no second sum)."""
    out = {}
    for key, value in total.items():
        if not value.is_floating_point():
            out[key] = (extra[key] if extra is not None else value).clone()
            continue
        summed = value + extra[key].double() if extra is not None else value
        out[key] = (summed / count).to(dtypes[key])
    return out


class HeldOut:
    """One dataset's images, decoded once and kept, scored for many candidate soups."""

    def __init__(self, spec: str, meta: CheckpointMeta, config: SoupConfig, device: torch.device):
        self.loaded = load_dataset(spec, split="test")
        self.loaded.check_classifier_width(len(meta.classnames))
        self.batches = evaluation.BatchCache(self.loaded, meta.preprocessing.eval_transform(), config.batch_size,
                                             config.workers)
        self.device = device

    def top1(self, model: torch.nn.Module) -> float:
        correct, n = evaluation.accuracy(model, self.batches, self.loaded, self.device)
        if n == 0:
            raise WiseftError(f"dataset {self.loaded.spec!r}: no readable image was evaluated")
        return evaluation.percent(correct, n)


class Scorer:
    """Loads a state dict into one reusable model and measures it on the held-out set."""

    def __init__(self, meta: CheckpointMeta, heldout: HeldOut):
        self.model = build_classifier(meta).to(heldout.device).eval().requires_grad_(False)
        self.heldout = heldout

    def __call__(self, theta: dict[str, torch.Tensor]) -> float:
        self.model.load_state_dict(theta, strict=True)
        return self.heldout.top1(self.model)


def _state_path(config: SoupConfig) -> Path:
    return Path(config.state) if config.state else Path(f"{config.out}.soup-state.json")


def _load_state(path: Path, ingredients: Ingredients, spec: str) -> dict:
    """The measurements of an earlier run of the same greedy soup, or a fresh state."""
    fresh = {"version": STATE_VERSION, "ingredients": ingredients.sha256, "eval": spec, "heldout": {}, "steps": []}
    if not path.is_file():
        return fresh
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        state = None
    if not isinstance(state, dict) or {k: state.get(k) for k in ("version", "ingredients", "eval")} != {
            k: fresh[k] for k in ("version", "ingredients", "eval")}:
        print(f"wiseft soup: warning: {path} belongs to another soup (other ingredients or --eval); "
              "starting over", file=sys.stderr)
        return fresh
    return state


def _save_state(path: Path, state: dict) -> None:
    write_atomically(path, json.dumps(state, indent=1).encode())


def greedy_soup(ingredients: Ingredients, score: Scorer, state_path: Path, spec: str, progress: bool
                ) -> tuple[dict[str, torch.Tensor], list[float], dict[str, float], float]:
    """The paper's greedy soup: (soup state dict, weight per ingredient, held-out top-1 per sha256, soup's top-1)."""
    state = _load_state(state_path, ingredients, spec)
    count = len(ingredients.paths)
    bar = tqdm(total=2 * count - 1, desc="greedy soup", unit="model", disable=not progress, file=sys.stderr,
               delay=evaluation.BAR_DELAY_S)
    for index, sha in enumerate(ingredients.sha256):
        if sha not in state["heldout"]:
            state["heldout"][sha] = score(ingredients.read(index))
            _save_state(state_path, state)
        bar.update(1)
    heldout = state["heldout"]
    order = sorted(range(count), key=lambda i: (-heldout[ingredients.sha256[i]], i))
    chosen, best = [order[0]], heldout[ingredients.sha256[order[0]]]
    total = add_into(None, ingredients.read(order[0]))
    steps = {step["sha256"]: step for step in state["steps"]}
    for index in order[1:]:
        sha = ingredients.sha256[index]
        step = steps.get(sha)
        theta = None
        if step is None:
            theta = ingredients.read(index)
            top1 = score(mean_of(total, len(chosen) + 1, ingredients.dtypes, extra=theta))
            step = {"sha256": sha, "top1": top1, "accepted": top1 > best}
            state["steps"].append(step)
            _save_state(state_path, state)
        if step["accepted"]:
            total = add_into(total, theta if theta is not None else ingredients.read(index))
            chosen.append(index)
            best = step["top1"]
        bar.update(1)
        bar.set_postfix_str(f"{len(chosen)} in, held-out {best:.2f}%")
    bar.close()
    weights = [1.0 / len(chosen) if i in chosen else 0.0 for i in range(count)]
    return mean_of(total, len(chosen), ingredients.dtypes), weights, heldout, best


def uniform_soup(ingredients: Ingredients, progress: bool) -> tuple[dict[str, torch.Tensor], list[float]]:
    """The mean of every ingredient (float64 running sum, one ingredient in memory at a time)."""
    total = None
    for index in tqdm(range(len(ingredients.paths)), desc="uniform soup", unit="model", disable=not progress,
                      file=sys.stderr, delay=evaluation.BAR_DELAY_S):
        total = add_into(total, ingredients.read(index))
    count = len(ingredients.paths)
    return mean_of(total, count, ingredients.dtypes), [1.0 / count] * count


def soup_recipe(config: SoupConfig, ingredients: Ingredients, weights: list[float], heldout: dict[str, float],
                heldout_top1: float | None, test_top1: dict[str, float]) -> dict:
    """Every ingredient's file, sha256 and weight (0: left out by the greedy recipe), and how it was chosen."""
    rows = [{"file": Path(path).name, "sha256": sha, "weight": weight,
             **({"heldout_top1": heldout[sha]} if sha in heldout else {})}
            for path, sha, weight in zip(ingredients.paths, ingredients.sha256, weights)]
    return {"method": "weighted-average", "soup": config.method, "params": {"weights": weights},
            "ingredients": rows, **({"eval": config.eval, "heldout_top1": heldout_top1} if config.eval else {}),
            **({"test_top1": test_top1} if test_top1 else {})}


def run_soup(config: SoupConfig) -> Soup:
    """``wiseft soup``: make the uniform or greedy soup, report it on the test sets and write it with its recipe."""
    check_config(config)
    device = resolve_device(config.device)
    ingredients = Ingredients(config.ingredients, config.classnames)
    heldout: dict[str, float] = {}
    heldout_top1 = None
    held = HeldOut(config.eval, ingredients.meta, config, device) if config.eval else None
    if config.method == "greedy":
        theta, weights, heldout, heldout_top1 = greedy_soup(ingredients, Scorer(ingredients.meta, held),
                                                            _state_path(config), config.eval, config.progress)
    else:
        theta, weights = uniform_soup(ingredients, config.progress)
        if held is not None:
            heldout_top1 = Scorer(ingredients.meta, held)(theta)
    test_top1 = {}
    for spec in config.tests:
        test_top1[spec] = Scorer(ingredients.meta, HeldOut(spec, ingredients.meta, config, device))(theta)
    recipe = soup_recipe(config, ingredients, weights, heldout, heldout_top1, test_top1)
    save_classifier(config.out, theta, replace(ingredients.meta, recipe=recipe))
    return Soup(Path(config.out), weights, heldout, heldout_top1, test_top1)
