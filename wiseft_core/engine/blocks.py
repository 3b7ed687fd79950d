"""Named groups of parameters ("blocks"): the unit of per-block alpha and of the weight inspector.

Names follow the architecture so a user can say `head=1.0` or `block1*=0.3`:
`embeddings` (patch/stem, class and positional embeddings, ln_pre), `block0`.. (ViT residual
blocks), `layer1`.. (ResNet stages), `attnpool`, `post` (ln_post, projection), `head`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from wiseft_core.errors import WiseftError

BlockAlphas = Sequence[tuple[str, float]]

_RULES = (
    (re.compile(r"^head\."), lambda m: "head"),
    (re.compile(r"\.(?:resblocks|blocks)\.(\d+)\."), lambda m: f"block{m.group(1)}"),
    (re.compile(r"^image_encoder\.(?:trunk\.)?(layer\d+)\."), lambda m: m.group(1)),
    (re.compile(r"^image_encoder\.attnpool\."), lambda m: "attnpool"),
    (re.compile(r"^image_encoder\.(?:ln_post|proj$|head\.|trunk\.norm|trunk\.head)"), lambda m: "post"),
)


def block_name(param_name: str) -> str:
    """The block a state-dict key belongs to (anything unmatched in the tower is `embeddings`)."""
    for pattern, name in _RULES:
        match = pattern.search(param_name)
        if match:
            return name(match)
    return "embeddings"


def block_rank(block: str) -> tuple[int, int]:
    """Sort key putting blocks in forward order: embeddings, numbered blocks/layers, pooling, post, head."""
    order = {"embeddings": 0, "attnpool": 2, "post": 3, "head": 4}
    digits = re.search(r"\d+$", block)
    return (order.get(block, 1), int(digits.group()) if digits else 0)


def ordered_blocks(param_names: Iterable[str]) -> list[str]:
    """Blocks in forward order: embeddings, blocks/layers by index, pooling, head."""
    return sorted({block_name(n) for n in param_names}, key=block_rank)


def block_bands(param_names: Iterable[str], bands: int = 3) -> dict[str, list[str]]:
    """Group the middle blocks into a few bands (e.g. 'blocks 0-3') for a compact per-block UI."""
    blocks = ordered_blocks(param_names)
    middle = [b for b in blocks if block_rank(b)[0] == 1]
    groups: dict[str, list[str]] = {}
    if "embeddings" in blocks:
        groups["embeddings"] = ["embeddings"]
    size = max(1, -(-len(middle) // bands)) if middle else 1
    for start in range(0, len(middle), size):
        chunk = middle[start:start + size]
        label = chunk[0] if len(chunk) == 1 else f"{chunk[0]}-{re.search(r'[0-9]+$', chunk[-1]).group()}"
        groups[label] = chunk
    tail = [b for b in blocks if block_rank(b)[0] in (2, 3)]
    if tail:
        groups["pooling"] = tail
    if "head" in blocks:
        groups["head"] = ["head"]
    return groups


def parse_block_alpha(spec: str) -> tuple[str, float]:
    """Parse `PATTERN=ALPHA` (PATTERN: fnmatch on block or parameter name, e.g. `head`, `block1*`)."""
    pattern, sep, value = spec.rpartition("=")
    if not sep or not pattern:
        raise WiseftError(f"--block-alpha expects PATTERN=ALPHA (e.g. head=1.0 or 'block1*=0.3'), got {spec!r}")
    try:
        return pattern, float(value)
    except ValueError:
        raise WiseftError(f"--block-alpha {spec!r}: {value!r} is not a number") from None


def alpha_for(param_name: str, alpha: float, block_alphas: BlockAlphas = ()) -> float:
    """The alpha one tensor gets: the global alpha unless a pattern matches (the last match wins)."""
    block = block_name(param_name)
    for pattern, value in block_alphas:
        if fnmatchcase(block, pattern) or fnmatchcase(param_name, pattern):
            alpha = float(value)
    return alpha


def check_patterns_match(param_names: Sequence[str], block_alphas: BlockAlphas) -> None:
    """A pattern that matches nothing is almost always a typo: say so instead of silently ignoring it."""
    for pattern, _ in block_alphas:
        if not any(fnmatchcase(block_name(n), pattern) or fnmatchcase(n, pattern) for n in param_names):
            known = ", ".join(ordered_blocks(param_names))
            raise WiseftError(f"block-alpha pattern {pattern!r} matches no parameter; blocks are: {known}")
