"""Budgets as people write them: a number, or a simple fraction such as ``8/255``.

Accepted wherever a budget is read — attack grids, step sizes, adversarial training's eps — in
configs and on the command line, so ``--attack.eps 8/255`` and ``eps: [2/255, 4/255]`` both work.
"""

import math
import re
from fractions import Fraction
from typing import Any

from advconf.errors import AdvconfError

Budget = float | str  # a str is parsed as a fraction ("8/255")
_FRACTION = re.compile(r"^\s*-?\d+(\.\d*)?\s*/\s*\d+(\.\d*)?\s*$")


def is_fraction(value: Any) -> bool:
    return isinstance(value, str) and bool(_FRACTION.match(value))


def parse_budget(value: Any, name: str = "a budget") -> float:
    """``value`` as a finite float; strings must be simple fractions (``8/255``, ``0.5/2``)."""
    if isinstance(value, str):
        if not is_fraction(value):
            raise AdvconfError(f"{name} must be a number or a fraction like 8/255, got {value!r}")
        numerator, denominator = (float(Fraction(part.strip())) for part in value.split("/"))
        if denominator == 0:
            raise AdvconfError(f"{name}: {value!r} divides by zero")
        value = numerator / denominator
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AdvconfError(f"{name} must be a finite number, got {value!r}")
    return float(value)
