"""The one error type of the pure model, and the whole-number check its readers share."""

import json
from collections.abc import Iterable
from typing import Any


class NumaError(ValueError):
    """Bad input to the model: the message is one line naming what and why."""


def whole_number(where: str, value: Any, low: int = 0, high: int | None = None) -> int:
    """``value`` when it is an int within ``low..high``; else NumaError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise NumaError(f"{where} must be a whole number, not {json.dumps(value)}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise NumaError(f"{where} = {value} is out of range ({bound})")
    return value


def known_keys(where: str, raw: Iterable[str], allowed: Iterable[str]) -> None:
    """NumaError naming the first key of ``raw`` not in ``allowed`` (a typo must not pass silently)."""
    unknown = set(raw) - set(allowed)
    if unknown:
        raise NumaError(f"{where}: unknown key {sorted(unknown)[0]!r}")
