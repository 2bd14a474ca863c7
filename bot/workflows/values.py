"""One rule for what a form field accepts, used for `defaultValue` at load time and for what a
member gives at run time."""

from __future__ import annotations

import contextlib
import math

from bot.workflows.problems import one_of
from bot.workflows.schema import FormField

Value = str | float


def parse_value(field: FormField, raw: object) -> Value:
    """`raw` as a value of `field` (not an image field). Raises ValueError with a phrase that
    completes "<the field> ...", e.g. "must be at most 25 characters long (it has 31)"."""
    rules = field.validation
    if field.type == "number":
        number = _number(raw)
        if rules.min is not None and number < rules.min:
            raise ValueError(f"must be at least {format_number(rules.min)}")
        if rules.max is not None and number > rules.max:
            raise ValueError(f"must be at most {format_number(rules.max)}")
        return number
    if not isinstance(raw, str):
        raise ValueError("must be text")
    if field.type == "select":
        values = [choice.value for choice in field.options]
        if raw not in values:
            raise ValueError(f"must be one of {one_of(values)}")
        return raw
    length = len(raw)
    if rules.min_length is not None and length < rules.min_length:
        raise ValueError(f"must be at least {rules.min_length} characters long (it has {length})")
    if rules.max_length is not None and length > rules.max_length:
        raise ValueError(f"must be at most {rules.max_length} characters long (it has {length})")
    return raw


def format_number(number: float) -> str:
    """3.0 -> "3", 2.5 -> "2.5": how a number reads in a prompt or a message."""
    return str(int(number)) if float(number).is_integer() else str(number)


def as_text(value: Value) -> str:
    return value if isinstance(value, str) else format_number(value)


def _number(raw: object) -> float:
    number = math.nan
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
    elif isinstance(raw, str):
        with contextlib.suppress(ValueError):
            number = float(raw.strip())
    if not math.isfinite(number):
        raise ValueError("must be a number")
    return number
