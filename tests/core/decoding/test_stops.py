"""Stop sequences: emitted text never includes a stop sequence, and the pieces add up to the full text."""

from __future__ import annotations

import pytest

from core.decoding.stops import StopMatcher


def run(text: str, stops: list[str]) -> tuple[list[str], bool]:
    m = StopMatcher(stops)
    pieces = []
    for ch in text:
        pieces.append(m.push(ch))
        if m.stopped:
            return pieces, True
    pieces.append(m.flush())
    return pieces, False


@pytest.mark.parametrize(
    ("text", "stops", "expected", "stopped"),
    [
        ("hello\n\nworld", ["\n\n"], "hello", True),
        ("hello\nworld", ["\n\n"], "hello\nworld", False),
        ("abcabd", ["abd"], "abc", True),
        ("xx END yy", ["END", "yy"], "xx ", True),
        ("no stops here", [], "no stops here", False),
        ("ends with a prefix \n", ["\n\n"], "ends with a prefix \n", False),
    ],
)
def test_stop_matching(text, stops, expected, stopped):
    pieces, did_stop = run(text, stops)
    assert "".join(pieces) == expected and did_stop == stopped


def test_holds_back_only_possible_prefixes():
    m = StopMatcher(["\n\n"])
    assert m.push("a") == "a"
    assert m.push("\n") == ""  # could be the start of "\n\n"
    assert m.push("b") == "\nb"
