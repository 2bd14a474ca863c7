"""JSON with comments: comments go, strings stay, errors point at the line and column."""

from __future__ import annotations

import pytest

from bot.workflows import jsonc


def test_line_and_block_comments_are_ignored() -> None:
    text = """{
      // a line comment
      "a": 1, /* a block
      comment over lines */ "b": [2, /* inline */ 3] // trailing
    }"""
    assert jsonc.loads(text) == {"a": 1, "b": [2, 3]}


def test_comment_markers_inside_strings_are_text() -> None:
    text = r'{"url": "https://example.com/a", "c": "/* not a comment */", "q": "say \"//\""}'
    assert jsonc.loads(text) == {
        "url": "https://example.com/a",
        "c": "/* not a comment */",
        "q": 'say "//"',
    }


def test_errors_give_the_line_and_column_as_written() -> None:
    text = '{\n  /* two\n  lines */\n  "a": 1,\n  "b": oops\n}'
    with pytest.raises(jsonc.JsoncError) as caught:
        jsonc.loads(text)
    assert (caught.value.line, caught.value.column) == (5, 8)
    assert "Expecting value" in caught.value.reason


def test_a_trailing_comma_is_refused_with_a_hint() -> None:
    with pytest.raises(jsonc.JsoncError) as caught:
        jsonc.loads('{"a": [1, 2,],\n}')
    assert caught.value.line == 1
    assert "comma before a closing bracket" in caught.value.reason


def test_an_unclosed_block_comment_is_located() -> None:
    with pytest.raises(jsonc.JsoncError) as caught:
        jsonc.loads('{"a": 1}\n  /* never closed')
    assert (caught.value.line, caught.value.column) == (2, 3)
    assert "never closed" in caught.value.reason


def test_positions_survive_comment_stripping() -> None:
    text = '{"a": 1} // x\n/* y */'
    stripped = jsonc.strip_comments(text)
    assert len(stripped) == len(text)
    assert stripped.index("\n") == text.index("\n")
