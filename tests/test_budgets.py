"""Budgets as people write them: numbers or simple fractions, anywhere a budget is read."""

import math

import pytest

from advconf.attacks import PGD
from advconf.budgets import parse_budget
from advconf.errors import AdvconfError


@pytest.mark.parametrize("text, value", [("8/255", 8 / 255), (" 2 / 255 ", 2 / 255), ("0.5/2", 0.25), (0.1, 0.1), (3, 3.0)])
def test_numbers_and_simple_fractions_are_budgets(text, value):
    assert parse_budget(text) == pytest.approx(value)


@pytest.mark.parametrize("text, message", [("eight", "fraction like 8/255"), ("1/0", "divides by zero"),
                                           ("8/255/2", "fraction like"), (math.nan, "finite"), (True, "finite")])
def test_anything_else_is_refused_in_one_line(text, message):
    with pytest.raises(AdvconfError, match=message):
        parse_budget(text, "eps")


def test_a_step_size_may_be_a_fraction():
    assert PGD(step_size="2/255").step_size == pytest.approx(2 / 255)
