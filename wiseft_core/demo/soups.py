"""``wiseft demo build --soups``: many fine-tunes of the shipped CLIP, their uniform and greedy soups.

*Model soups* (Wortsman et al., 2022) averages the weights of fine-tunes from one start, found by a
random hyper-parameter search. This reproduces the experiment on the demo world: the shipped demo
recipe is ingredient 0 (the shipped fine-tune itself), the others vary lr, steps, label smoothing,
weight decay and seed (``wiseft finetune`` has no augmentation-strength option, so that axis of the
paper's search is absent). Ingredients are chosen and greedy-souped on the validation draw and
reported on the test draw, as the demo build does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from wiseft_core.data import world
from wiseft_core.demo.build import FULL, FinetuneRecipe, default_seeds_work, finetune_matches, reuse_or_finetune
from wiseft_core.demo.soup_results import GREEDY, UNIFORM, ZERO_SHOT, Scored, score_both
from wiseft_core.evaluate.soup_average import greedy_soup, soup_state_dict, uniform_weights
from wiseft_core.evaluate.state_dict_scorer import StateDictScorer
from wiseft_core.inspection.soup_plane import measure_plane, plane_axis, write_plane_csv

SEARCH_SEED = 20220305  # the random search's own seed (arXiv:2203.05482)
INGREDIENTS = 8  # the shipped fine-tune and seven more: about 20 min of one core
QUICK_INGREDIENTS = 3
LR_RANGE = (1.5e-4, 1e-3)  # log-uniform around the shipped 5e-4
WD_RANGE = (0.01, 0.3)  # log-uniform around the shipped 0.1
STEPS = (200, 300, 400, 500)
LABEL_SMOOTHING = (0.0, 0.05, 0.1, 0.15, 0.2)


def _two_figures(x: float) -> float:
    """``x`` rounded to two significant figures: recipes that read well in a table."""
    return float(f"{x:.2g}")


def random_search(n: int = INGREDIENTS, seed: int = SEARCH_SEED, base: FinetuneRecipe = FULL.end_to_end,
                  steps: tuple[int, ...] = STEPS) -> list[FinetuneRecipe]:
    """``n`` end-to-end recipes: the shipped one first, then a seeded random search around it."""
    rng = np.random.default_rng(seed)
    recipes = [base]
    for i in range(1, n):
        lr = math.exp(rng.uniform(math.log(LR_RANGE[0]), math.log(LR_RANGE[1])))
        wd = math.exp(rng.uniform(math.log(WD_RANGE[0]), math.log(WD_RANGE[1])))
        run_steps = int(rng.choice(steps))
        smoothing = float(rng.choice(LABEL_SMOOTHING))
        recipes.append(dataclasses.replace(base, lr=_two_figures(lr), wd=_two_figures(wd), steps=run_steps,
                                           warmup=run_steps // 10, label_smoothing=smoothing, seed=i))
    return recipes


def ingredient_path(work: Path, index: int) -> Path:
    """Where ingredient ``index`` is kept (outside the repository: ingredients are not shipped)."""
    return work / f"soup_ingredient_{index:02d}.safetensors"


def default_soups_work(out: Path) -> Path:
    """The build's cache folder for this output folder, shared with ``wiseft demo seeds``."""
    return default_seeds_work(out) / "soups"


def make_ingredients(out: Path, work: Path, recipes: list[FinetuneRecipe], quiet: bool = True,
                     log: Callable[[str], None] = print) -> list[Path]:
    """Each recipe's end-to-end fine-tune of ``out``'s zero-shot model: the shipped file, a cached one, or made now."""
    zeroshot = out / "zeroshot.safetensors"
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, ft in enumerate(recipes):
        shipped = out / "finetuned.safetensors"
        if finetune_matches(shipped, zeroshot, "end-to-end", ft):
            log(f"ingredient {index}: the shipped fine-tune")
            paths.append(shipped)
            continue
        with tempfile.TemporaryDirectory(prefix="wiseft-soup-") as tmp:
            paths.append(reuse_or_finetune(ft, zeroshot, ingredient_path(work, index), Path(tmp), quiet, log))
    return paths


# ---------------------------------------------------------------------------- measuring and souping

SUBDIR = "soups"  # inside the demo folder: what is shipped
RESULTS_CSV = "soups.csv"
RESULTS_JSON = "soups.json"
RESULTS_MD = "RESULTS.md"
SWEEP_CSV = "sweep_soups.csv"
PLANE_CSV = "plane.csv"
GREEDY_FILE = "greedy_soup.safetensors"
PLANE_FILE = "plane_finetune.safetensors"  # the plane's second fine-tune (the first is the shipped one)
SOUP_ALPHAS = "0:1:0.25"
PLANE_AXIS = (-0.5, 1.5, 0.25)  # wide enough to see the basin's walls; 81 points
PLANE_DATASETS = ("photo", "sketch")  # the reference and the shift where WiSE-FT gains most
PLANE_SPLIT = "val"  # a picture for understanding, not a reported number
PLANE_PARTNER = 1  # theta2: the random search's first draw (theta1 is the shipped fine-tune), not picked by score


def specs_of(split: str, names=world.DISTRIBUTIONS) -> list[str]:
    """Dataset specs of one draw; the test draw is spelled as in ``sweep.csv`` (``demo:photo``)."""
    return [f"demo:{d}" if split == "test" else f"demo:{d}@{split}" for d in names]


def choose_greedy(ingredients: list[Scored], state_dicts: list[dict], val: StateDictScorer
                  ) -> tuple[list[int], list[dict]]:
    """The paper's greedy soup on the validation draw of the reference (ranked by each one's own accuracy)."""
    reference = f"demo:{world.REFERENCE}@val"
    ranked = sorted(range(len(ingredients)), key=lambda i: -ingredients[i].val[world.REFERENCE])
    memo: dict[tuple[int, ...], float] = {}

    def held_out(indices: list[int]) -> float:
        key = tuple(sorted(indices))
        if key not in memo:
            soup = soup_state_dict([state_dicts[i] for i in key], uniform_weights(len(key)))
            memo[key] = val.score(soup, [reference])[reference].top1
        return memo[key]

    return greedy_soup(ranked, held_out)


def save_soup(path: Path, state_dict: dict, zeroshot, ingredients: list[Path], weights: list[float], kind: str
              ) -> Path:
    """A soup checkpoint (fp16, like the shipped ones) whose recipe names every ingredient's sha256 and weight."""
    import torch

    from wiseft_core.files.checkpoints import file_sha256, read_meta, save_classifier

    recipe = {"finetuning": kind, "soup": kind, "chosen_on": f"demo:{world.REFERENCE}@val",
              "zeroshot_sha256": file_sha256(zeroshot.path),
              "ingredients": [{"sha256": file_sha256(p), "weight": w, "recipe": read_meta(p).recipe}
                              for p, w in zip(ingredients, weights, strict=True)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_classifier(path, state_dict, dataclasses.replace(zeroshot.meta, recipe=recipe), dtype=torch.float16)
    return path


def sweep_soups(zeroshot: Path, soups: dict[str, Path], target: Path, quiet: bool) -> None:
    """``wiseft sweep`` from the zero-shot model to each soup (weight space, test draw), into one CSV."""
    from wiseft_core.evaluate.sweep import SweepConfig, parse_alphas, run_sweep

    target.unlink(missing_ok=True)  # measured afresh: the soups may have changed
    for label, soup in soups.items():
        run_sweep(SweepConfig(
            zeroshot=str(zeroshot), finetuned=str(soup), evals=[f"demo:{d}" for d in world.DISTRIBUTIONS],
            out=str(target), alphas=parse_alphas(SOUP_ALPHAS), ensembles=["weights"],
            reference=f"demo:{world.REFERENCE}", finetuning=label, device="cpu", progress=not quiet,
        ))


def cached_json(work: Path, key: dict, compute: Callable[[], object]) -> object:
    """``compute()``, kept in ``work/cache`` under a hash of ``key`` (what the result depends on), so an
    interrupted build, or one run after the measurements were made alongside the fine-tunes, measures nothing twice."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = work / "cache" / f"{digest}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return value


def _sizes() -> dict:
    return dict(world.DEFAULT_SIZES)


def scored_file(name: str, path: Path, scorers: dict[str, StateDictScorer], work: Path,
                recipe: dict | None = None) -> Scored:
    """``score_both`` of the checkpoint at ``path``, cached by its sha256 and the draws' sizes."""
    from wiseft_core.files.digests import file_sha256
    from wiseft_core.files.reader import load_classifier

    key = {"what": "scores", "sha256": file_sha256(path), "sizes": _sizes(), "look": world.LOOK.to_dict()}
    tables = cached_json(work, key, lambda: dataclasses.asdict(
        score_both(name, load_classifier(path).model.state_dict(), scorers)))
    return Scored(name, tables["val"], tables["test"], recipe)


def plane_cells_for(paths: list[Path], axis: list[float], work: Path, meta) -> list:
    """The plane grid through the three checkpoints ``paths`` on the plane's datasets, cached."""
    from wiseft_core.files.digests import file_sha256
    from wiseft_core.files.reader import load_classifier
    from wiseft_core.inspection.soup_plane import PlaneCell

    key = {"what": "plane", "sha256": [file_sha256(p) for p in paths], "axis": axis, "sizes": _sizes(),
           "datasets": list(PLANE_DATASETS), "split": PLANE_SPLIT, "look": world.LOOK.to_dict()}

    def compute() -> list[dict]:
        scorer = StateDictScorer(meta, specs_of(PLANE_SPLIT, PLANE_DATASETS))
        thetas = [load_classifier(p).model.state_dict() for p in paths]
        return [dataclasses.asdict(c) for c in measure_plane(thetas, scorer, axis, axis)]

    return [PlaneCell(**c) for c in cached_json(work, key, compute)]


def build_soups(out: Path, work: Path | None = None, quick: bool = False, quiet: bool = False,
                threads: int | None = None, ingredients: int | None = None) -> dict:
    """Fine-tune the ingredients (or reuse them), soup them, sweep WiSE-FT to the soups, grid the plane."""
    from wiseft_core.demo.build import QUICK, BuildLog

    base = QUICK if quick else FULL
    torch.set_num_threads(threads or base.threads)
    target = out / SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    log = BuildLog(target / "build.log")
    log(f"wiseft demo build --soups{' --quick' if quick else ''} -> {target}")
    with world.default_sizes(**base.split_sizes):
        count = ingredients or (QUICK_INGREDIENTS if quick else INGREDIENTS)
        return _build_soups(base, out, target, work or default_soups_work(out), count, quick, quiet, log)


class _Timer:
    """Seconds per build step, logged as each step ends."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.timings, self.tick = log, {}, time.perf_counter()

    def done(self, step: str, message: str) -> None:
        self.timings[f"{step}_s"] = round(time.perf_counter() - self.tick, 1)
        self.log(f"{message} in {self.timings[f'{step}_s']:.0f}s")
        self.tick = time.perf_counter()


def _make_soups(zeroshot, paths: list[Path], state_dicts: list[dict], chosen: list[int], target: Path,
                work: Path) -> dict[str, Path]:
    """The uniform soup (kept in ``work``: not shipped) and the greedy soup (shipped), as fp16 checkpoints."""
    everyone = uniform_weights(len(paths))
    uniform = save_soup(work / "uniform_soup.safetensors", soup_state_dict(state_dicts, everyone), zeroshot, paths,
                        everyone, UNIFORM)
    weights = uniform_weights(len(chosen))
    greedy = save_soup(target / GREEDY_FILE, soup_state_dict([state_dicts[i] for i in chosen], weights), zeroshot,
                       [paths[i] for i in chosen], weights, GREEDY)
    return {UNIFORM: uniform, GREEDY: greedy}


def _build_soups(base, out: Path, target: Path, work: Path, count: int, quick: bool, quiet: bool, log) -> dict:
    from wiseft_core.demo.soup_results import results_markdown, write_results_csv
    from wiseft_core.files.digests import file_sha256
    from wiseft_core.files.reader import load_classifier

    timer = _Timer(log)
    recipes = random_search(count, base=base.end_to_end,
                            steps=(base.end_to_end.steps,) if quick else STEPS)
    paths = make_ingredients(out, work, recipes, quiet, log)
    timer.done("finetune", f"{len(paths)} ingredients ready")
    zeroshot = load_classifier(out / "zeroshot.safetensors")
    state_dicts = [load_classifier(p).model.state_dict() for p in paths]
    scorers = {split: StateDictScorer(zeroshot.meta, specs_of(split)) for split in ("val", "test")}
    models = [scored_file(ZERO_SHOT, out / "zeroshot.safetensors", scorers, work)]
    models += [scored_file(f"fine-tune {i}", p, scorers, work, dataclasses.asdict(r))
               for i, (p, r) in enumerate(zip(paths, recipes, strict=True))]
    timer.done("score", "scored zero-shot and every ingredient on both draws")
    chosen, trace = choose_greedy(models[1:], state_dicts, scorers["val"])
    soups = _make_soups(zeroshot, paths, state_dicts, chosen, target, work)
    models += [scored_file(label, path, scorers, work) for label, path in soups.items()]
    timer.done("soups", f"greedy soup of fine-tunes {', '.join(map(str, chosen))}; both soups scored")
    sweep_soups(out / "zeroshot.safetensors", soups, target / SWEEP_CSV, quiet)
    timer.done("sweep", f"swept WiSE-FT to both soups ({SOUP_ALPHAS}) into {SWEEP_CSV}")
    partner = PLANE_PARTNER
    shutil.copyfile(paths[partner], target / PLANE_FILE)
    axis = plane_axis(*((0.0, 1.0, 0.5) if quick else PLANE_AXIS))
    cells = plane_cells_for([out / "zeroshot.safetensors", paths[0], paths[partner]], axis, work, zeroshot.meta)
    write_plane_csv(target / PLANE_CSV, cells)
    timer.done("plane", f"plane through zero-shot, fine-tunes 0 and {partner}: {len(axis)}x{len(axis)} points")
    write_results_csv(target / RESULTS_CSV, models)
    (target / RESULTS_MD).write_text(results_markdown(models, chosen, trace), encoding="utf-8")
    info = {"quick": quick, "ingredients": [{"file": p.name, "sha256": file_sha256(p), "recipe": dataclasses.asdict(r)}
                                            for p, r in zip(paths, recipes, strict=True)],
            "greedy": {"ingredients": chosen, "trace": trace}, "search_seed": SEARCH_SEED,
            "plane": {"theta0": "zero-shot", "theta1": 0, "theta2": partner, "axis": axis,
                      "datasets": specs_of(PLANE_SPLIT, PLANE_DATASETS), "file": PLANE_FILE},
            "alphas": SOUP_ALPHAS, "timings": timer.timings, "threads": torch.get_num_threads()}
    info["timings"]["total_s"] = log.elapsed()
    (target / RESULTS_JSON).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    log(f"done in {log.elapsed():.0f}s")
    return info


def shipped_soup_files(out: Path) -> dict[str, Path]:
    """The models the Soups page mixes, by name: the plane's three models and the greedy soup (those present)."""
    files = {"zero-shot θ₀": out / "zeroshot.safetensors", "fine-tune θ₁ (shipped)": out / "finetuned.safetensors",
             "fine-tune θ₂": out / SUBDIR / PLANE_FILE, "greedy soup": out / SUBDIR / GREEDY_FILE}
    return {name: path for name, path in files.items() if path.is_file()}
