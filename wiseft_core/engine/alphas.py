"""The alpha vocabulary, in one home: the allowed range, ranges and lists from the command line, the ensembles.

Every alpha a user or a viewer gives (``--alpha``, ``--alphas``, a URL, the slider, a CSV) is checked against the
same rule, and every range (sweeps, flips, the landscape) is built by the same exact-decimal stepping, so the alphas
a rerun asks for match the rows already written bit for bit.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from wiseft_core.errors import WiseftError

# |alpha| beyond this is no longer an interpolation anyone means (and overflows fp16); every alpha input checks it.
ALPHA_LIMIT = 10.0
# The paper's default when no held-out data picks alpha (a good mix without tuning); pages open at it.
DEFAULT_ALPHA = 0.5
# The two ways to mix a pair: in weight space (WiSE-FT) or in output space (mix the endpoints' logits).
ENSEMBLES = ("weights", "outputs")


def is_valid_alpha(value: object) -> bool:
    """A finite real number within [-ALPHA_LIMIT, ALPHA_LIMIT] (bools and strings are not alphas)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and abs(value) <= ALPHA_LIMIT


def check_alpha(value: object, what: str = "alpha") -> float:
    """``value`` as a float, or a one-line error naming ``what``."""
    if not is_valid_alpha(value):
        raise WiseftError(f"{what} must be a finite number within [-{ALPHA_LIMIT:g}, {ALPHA_LIMIT:g}], got {value!r}")
    return float(value)


def alpha_range(start: float, stop: float, step: float) -> list[float]:
    """``start, start + step, ..., stop`` (stop included when the steps land on it), exact as decimals."""
    return parse_alphas(f"{start!r}:{stop!r}:{step!r}")


MAX_ALPHAS = 10_001  # 0:1:0.0001; more rows than any plot or table can show


def _alpha_number(text: str, spec: str) -> Decimal:
    """One number of an --alphas spec, exact as typed (a Decimal, so ranges step without float drift)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise WiseftError(f"--alphas {spec!r}: {text.strip()!r} is not a number; expected START:STOP:STEP "
                          "(e.g. 0:1:0.05) or a comma list (e.g. 0,0.5,1)") from None
    if not value.is_finite():
        raise WiseftError(f"--alphas {spec!r}: {text.strip()} is not a finite number")
    return value


def _check_alpha(value: Decimal, spec: str) -> None:
    if abs(value) > Decimal(str(ALPHA_LIMIT)):
        raise WiseftError(f"--alphas {spec!r}: {value} is outside [-{ALPHA_LIMIT:g}, {ALPHA_LIMIT:g}]")


def parse_alphas(text: str) -> list[float]:
    """``START:STOP:STEP`` (STOP included when the steps land on it, never exceeded), a comma list or one number.

    Every alpha is the float of its exact decimal value (``0:1:0.05`` gives 0.35, not
    0.35000000000000003), so the CSV shows what was asked for and a rerun matches it exactly.
    """
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise WiseftError(f"--alphas {text!r}: expected START:STOP:STEP (e.g. 0:1:0.05) or a comma list "
                              "(e.g. 0,0.5,1)")
        start, stop, step = (_alpha_number(x, text) for x in parts)
        _check_alpha(start, text)
        _check_alpha(stop, text)
        if step <= 0 or stop < start:
            raise WiseftError(f"--alphas {text!r}: need STEP > 0 and STOP >= START")
        try:
            steps = (stop - start) / step  # rounded to 28 digits: exact for any count we accept
        except ArithmeticError:  # a STEP so small the quotient overflows
            steps = Decimal(MAX_ALPHAS)
        if steps >= MAX_ALPHAS:
            raise WiseftError(f"--alphas {text!r} gives more than {MAX_ALPHAS:,} alphas (use a larger STEP)")
        count = int((stop - start) // step) + 1
        values = [start + i * step for i in range(count)]
    else:
        values = [_alpha_number(x, text) for x in text.split(",") if x.strip()]
        if len(values) > MAX_ALPHAS:
            raise WiseftError(f"--alphas gives {len(values):,} alphas; at most {MAX_ALPHAS:,}")
        for value in values:
            _check_alpha(value, text)
    if not values:
        raise WiseftError(f"--alphas {text!r} gives no alpha")
    return list(dict.fromkeys(float(v) + 0.0 for v in values))


def parse_ensembles(values: list[str] | None) -> list[str]:
    """``--ensemble weights --ensemble outputs`` or ``--ensemble weights,outputs``; default weights."""
    names = [v.strip() for value in (values or ["weights"]) for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in ENSEMBLES]
    if bad:
        raise WiseftError(f"--ensemble {bad[0]!r}: expected one of {', '.join(ENSEMBLES)}")
    return list(dict.fromkeys(names))
