"""JSON with comments: `//` to the end of the line and `/* ... */`, as workflow files use.

Comments are blanked out (newlines kept) and the rest goes to the standard `json` parser, so
every error position is the position in the file as written. Comment markers inside strings
are text. Trailing commas are not accepted (they are not JSON); the error says so.
"""

from __future__ import annotations

import json
from typing import Any


class JsoncError(ValueError):
    """Text that is not JSON (with comments): where and why."""

    def __init__(self, reason: str, *, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {reason}")
        self.reason = reason
        self.line = line
        self.column = column


def loads(text: str) -> Any:
    """Parse `text` as JSON with comments. Raises JsoncError with the line and column."""
    stripped = strip_comments(text)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        reason = exc.msg
        if _after_comma(stripped, exc.pos) and reason.startswith("Expecting"):
            reason += " (a comma before a closing bracket is not allowed in JSON)"
        raise JsoncError(reason, line=exc.lineno, column=exc.colno) from None


def strip_comments(text: str) -> str:
    """`text` with every comment replaced by spaces (newlines kept, so positions hold)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                line, column = _position(text, i)
                raise JsoncError("a /* comment is never closed with */", line=line, column=column)
            out.append("".join(c if c == "\n" else " " for c in text[i : end + 2]))
            i = end + 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index just after the string starting at `start` (or the end of the line/text if
    it is unterminated: the JSON parser then reports it)."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char in '"\n':
            return i + 1 if char == '"' else i
        i += 1
    return len(text)


def _after_comma(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return before.endswith(",") and text[pos : pos + 1] in ("]", "}")


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
