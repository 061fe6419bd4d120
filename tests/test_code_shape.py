"""Every module stays readable in one sitting: at most 300 lines, and no function over 60 lines, declarative
tables aside (the functions listed in TABLES are one literal list each)."""

from __future__ import annotations

import ast

from tests_support import REPO

PACKAGES = ("core", "service", "training", "tests", "bench")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60
TABLES = {("tests/integration/test_bad_input_corpus.py", "corpus")}  # one request per row


def python_files() -> list:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py") if ".venv" not in p.parts)


def long_functions(tree: ast.AST, limit: int) -> list[tuple[str, int]]:
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > limit
    ]


def test_modules_and_functions_are_short():
    too_long = []
    for path in python_files():
        rel = str(path.relative_to(REPO))
        text = path.read_text()
        if (lines := text.count("\n")) > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {lines} lines")
        for name, length in long_functions(ast.parse(text), MAX_FUNCTION_LINES):
            if (rel, name) not in TABLES:
                too_long.append(f"{rel}: {name}() is {length} lines")
    assert not too_long, "\n".join(too_long)


def test_the_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert long_functions(ast.parse(f"def f():\n{body}\n"), MAX_FUNCTION_LINES) == [("f", 62)]
