"""The alpha vocabulary: one rule for every alpha anyone gives, one exact stepping for every range."""

import math

import pytest

from wiseft_core.engine.alphas import ALPHA_LIMIT, alpha_range, check_alpha, is_valid_alpha, parse_alphas
from wiseft_core.errors import WiseftError


def test_alpha_range_steps_exactly_as_decimals_and_includes_stop():
    values = alpha_range(0, 1, 0.05)
    assert len(values) == 21 and values[7] == 0.35 and values[-1] == 1.0
    assert alpha_range(-0.5, 1.5, 0.1) == [round(-0.5 + 0.1 * k, 6) for k in range(21)]


def test_alpha_range_never_goes_past_stop():
    assert alpha_range(0, 1, 0.6) == [0.0, 0.6]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, ALPHA_LIMIT + 1e-9, 1e308, "0.5", None, True])
def test_non_finite_out_of_range_or_non_number_alphas_are_refused(bad):
    assert not is_valid_alpha(bad)
    with pytest.raises(WiseftError, match="finite number within"):
        check_alpha(bad, "the slider's alpha")


def test_valid_alphas_pass_as_floats():
    assert check_alpha(1) == 1.0 and isinstance(check_alpha(1), float)
    assert check_alpha(-ALPHA_LIMIT) == -ALPHA_LIMIT


def test_comma_lists_keep_order_and_drop_repeats():
    assert parse_alphas("1,0,0.5,1") == [1.0, 0.0, 0.5]
