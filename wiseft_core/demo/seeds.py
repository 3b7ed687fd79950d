"""``wiseft demo seeds``: does the lesson hold beyond one lucky draw? Criteria 2-4 per seed, on the validation draw.

The shipped sweep is one pretraining seed and one fine-tuning seed. This re-runs the demo recipe for
several fine-tuning seeds on top of each of several pretrained CLIPs (seed 0 is the shipped one; other
pretraining seeds are trained once and kept beside it) and checks the paper's lesson on the
validation draw, the one the recipe was chosen on. Fine-tunes are reused when their recorded recipe
and zero-shot sha256 match (the build's own seeds included), so a rerun after changing only the shift
generators re-measures in minutes.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from wiseft_core.data import world
from wiseft_core.demo.build import (
    CLIP_FILE,
    FULL,
    QUICK,
    BuildRecipe,
    build_zeroshot,
    finetune_matches,
    reuse_or_finetune,
    spread_checkpoint,
)
from wiseft_core.demo.findings import Finding, avg_shifts, lesson_findings, top1_table

VAL_ALPHAS = [0.0, 0.5, 1.0]
SEEDS_CSV = "seeds_val.csv"
SEEDS_MD = "SEEDS.md"


@dataclasses.dataclass(frozen=True)
class SeedResult:
    pretrain_seed: int
    finetune_seed: int
    zs: dict[str, float]
    ft: dict[str, float]
    mid: dict[str, float]

    @property
    def findings(self) -> list[Finding]:
        return lesson_findings(self.zs, self.ft, self.mid)

    @property
    def holds(self) -> bool:
        return all(f.holds for f in self.findings)


def clip_path_for(out: Path, pretrain_seed: int, recipe: BuildRecipe = FULL) -> Path:
    """The shipped CLIP for the recipe's own seed; ``pretrained_clip_seed<N>.safetensors`` beside it otherwise."""
    if pretrain_seed == recipe.pretrain.seed:
        return out / CLIP_FILE
    return out / f"pretrained_clip_seed{pretrain_seed}.safetensors"


def _finetuned(out: Path, zeroshot: Path, recipe: BuildRecipe, pretrain_seed: int, seed: int, work: Path,
               quiet: bool, log: Callable[[str], None]) -> Path:
    """End-to-end fine-tune of ``zeroshot`` with the demo recipe and ``seed``; reuses the shipped one or the build's."""
    ft = dataclasses.replace(recipe.end_to_end, seed=seed)
    shipped = out / "finetuned.safetensors"
    if finetune_matches(shipped, zeroshot, "end-to-end", ft):
        log(f"reusing {shipped} (same zero-shot model and recipe)")
        return shipped
    with tempfile.TemporaryDirectory(prefix="wiseft-seeds-") as tmp:
        return reuse_or_finetune(ft, zeroshot, spread_checkpoint(work, pretrain_seed, seed), Path(tmp), quiet, log)


def measure(zeroshot: Path, finetuned: Path, csv_path: Path) -> tuple[dict, dict, dict]:
    """(zero-shot, fine-tuned, alpha=0.5) top-1 per distribution on the validation draw, via ``wiseft sweep``."""
    from wiseft_core.evaluate.sweep import SweepConfig, run_sweep

    csv_path.unlink(missing_ok=True)  # the shift generators may have changed since: never resume
    rows = run_sweep(SweepConfig(
        zeroshot=str(zeroshot), finetuned=str(finetuned), evals=[f"demo:{d}@val" for d in world.DISTRIBUTIONS],
        out=str(csv_path), alphas=list(VAL_ALPHAS), ensembles=["weights"],
        reference=f"demo:{world.REFERENCE}@val", device="cpu", progress=False,
    ))
    table = top1_table(rows, "end-to-end", "weights")
    return table[0.0], table[1.0], table[0.5]


def run_seeds(out: Path, work: Path, pretrain_seeds: Sequence[int], finetune_seeds: Sequence[int],
              quick: bool = False, quiet: bool = True, log: Callable[[str], None] = print,
              threads: int | None = None) -> list[SeedResult]:
    """Every (pretraining seed, fine-tuning seed) on the validation draw; writes seeds_val.csv and SEEDS.md."""
    import torch

    base = QUICK if quick else FULL
    torch.set_num_threads(threads or base.threads)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    with world.default_sizes(**base.split_sizes):
        for p in pretrain_seeds:
            recipe = dataclasses.replace(base, pretrain=dataclasses.replace(base.pretrain, seed=p))
            zeroshot = out / "zeroshot.safetensors" if p == base.pretrain.seed else work / f"zeroshot_p{p}.safetensors"
            # kept when it is this CLIP's head (so fine-tunes that recorded its sha256 stay reusable), else rebuilt
            build_zeroshot(recipe, out, log, reuse=True, clip_path=clip_path_for(out, p, base), target=zeroshot,
                           keep=True)
            for s in finetune_seeds:
                finetuned = _finetuned(out, zeroshot, recipe, p, s, work, quiet, log)
                zs, ft, mid = measure(zeroshot, finetuned, work / f"val_p{p}_s{s}.csv")
                results.append(SeedResult(p, s, zs, ft, mid))
                log(f"pretraining seed {p}, fine-tuning seed {s}: "
                    + ("criteria 2-4 hold" if results[-1].holds else "criteria 2-4 do NOT all hold"))
    write_seed_files(out, results)
    return results


def write_seed_files(out: Path, results: Sequence[SeedResult]) -> None:
    """``seeds_val.csv`` (one row per seed pair and model) and ``SEEDS.md`` (the table and each criterion)."""
    specs = [f"demo:{d}" for d in world.DISTRIBUTIONS]
    lines = ["pretrain_seed,finetune_seed,model," + ",".join(s.split(":")[1] for s in specs) + ",avg_shifts"]
    for r in results:
        for name, acc in (("zero-shot", r.zs), ("fine-tuned", r.ft), ("alpha=0.5", r.mid)):
            lines.append(f"{r.pretrain_seed},{r.finetune_seed},{name}," + ",".join(f"{acc[s]:.2f}" for s in specs)
                         + f",{avg_shifts(acc):.2f}")
    (out / SEEDS_CSV).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / SEEDS_MD).write_text(seeds_markdown(results), encoding="utf-8")


def seeds_markdown(results: Sequence[SeedResult]) -> str:
    """Per seed pair: zero-shot / fine-tuned / alpha=0.5 on each distribution, the margins and the verdicts."""
    specs = [f"demo:{d}" for d in world.DISTRIBUTIONS]
    lines = ["| pretrain seed | fine-tune seed | model | " + " | ".join(s.split(":")[1] for s in specs)
             + " | avg shifts |", "|---" * (len(specs) + 4) + "|"]
    for r in results:
        for name, acc in (("zero-shot", r.zs), ("fine-tuned", r.ft), ("α = 0.5", r.mid)):
            lines.append(f"| {r.pretrain_seed} | {r.finetune_seed} | {name} | "
                         + " | ".join(f"{acc[s]:.1f}" for s in specs) + f" | {avg_shifts(acc):.1f} |")
    lines += ["", f"Criteria 2-4 hold for {sum(r.holds for r in results)} of {len(results)} seed pairs.", ""]
    for r in results:
        lines.append(f"- pretraining seed {r.pretrain_seed}, fine-tuning seed {r.finetune_seed}:")
        lines += [f"  - [{'ok' if f.holds else 'NO'}] {f.name}: {f.detail}" for f in r.findings]
    return "\n".join(lines) + "\n"
