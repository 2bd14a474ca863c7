"""config.example.toml is the reference for operators: every setting of the config model is
in it, with a comment that explains it."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from bot.config import EXAMPLE_CONFIG, Settings

_TABLE = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
_KEY = re.compile(r"^(?P<key>[a-z_]+)\s*=")


def example_lines() -> list[tuple[str, str]]:
    """(table, line) for every line of the example, tables as written ("models.catalog...")."""
    table, lines = "", []
    for line in EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines():
        if match := _TABLE.match(line):
            table = match["name"]
        lines.append((table, line))
    return lines


def documented(lines: list[tuple[str, str]], table: str, key: str) -> bool:
    """`key = ...` is in `[table]`, right below a comment."""
    for index, (where, line) in enumerate(lines):
        if where == table and (match := _KEY.match(line)) and match["key"] == key:
            return index > 0 and lines[index - 1][1].startswith("#")
    return False


def comment_above(lines: list[tuple[str, str]], index: int) -> str:
    """The comment lines right above line `index`."""
    block = []
    for _, line in reversed(lines[:index]):
        if not line.startswith("#"):
            break
        block.append(line)
    return "\n".join(block)


def entries_comment(lines: list[tuple[str, str]], section: str, key: str) -> str:
    """What explains a table of named entries: the comment above its first entry
    (`[section.key."..."]`), or above `key = {}` when the example has no entry."""
    for index, (table, line) in enumerate(lines):
        if table.startswith(f"{section}.{key}."):
            return comment_above(lines, index)  # `index`: the first entry's header
        if table == section and (match := _KEY.match(line)) and match["key"] == key:
            return comment_above(lines, index)
    return ""


def entry_model(annotation: object) -> type[BaseModel] | None:
    """`Model` for a `dict[str, Model]` setting (tables of named entries)."""
    if typing.get_origin(annotation) is dict:
        value = typing.get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
    return None


def test_every_setting_is_in_the_example_with_a_comment() -> None:
    lines = example_lines()
    missing = []
    for section, section_field in Settings.model_fields.items():
        model = section_field.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        for key, setting in model.model_fields.items():
            entries = entry_model(setting.annotation)
            if entries is None:
                if not documented(lines, section, key):
                    missing.append(f"[{section}] {key}")
                continue
            # A table of named entries: each field of an entry is named in its comment.
            comment = entries_comment(lines, section, key)
            missing += [
                f"[{section}.{key}.*] {name}"
                for name in entries.model_fields
                if not re.search(rf"\b{name}\b", comment)
            ]
    assert missing == [], f"not in {Path(EXAMPLE_CONFIG).name} with a comment: {missing}"


def test_the_check_sees_a_setting_without_its_comment() -> None:
    lines = [("jobs", "# How many at once."), ("jobs", "max_concurrent = 4"), ("jobs", "")]
    assert documented(lines, "jobs", "max_concurrent")
    assert not documented(lines, "prompts", "max_concurrent")
    for above in ("", "max_concurrent_per_user = 1"):
        bare = [("jobs", "# How many."), ("jobs", above), ("jobs", "max_concurrent = 4")]
        assert not documented(bare, "jobs", "max_concurrent")
