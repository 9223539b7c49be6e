"""A notebook cell's code read as Python with ast, never run.

Several parts of the grader read a student's cells (which names a cell binds, which files it writes,
whether it trains): they all read shell and magic lines the same way, and give up the same way on
text that is not Python.
"""

from __future__ import annotations

import ast
import re
import threading

SHELL_OR_MAGIC = re.compile(r"^([ \t]*+)(?:([A-Za-z_]\w{0,99})[ \t]*+=[ \t]*+)?[!%].*+$", re.MULTILINE)
"""A line IPython runs as a shell command or magic (``!pip ...``, ``files = !ls``): read as a plain
statement on the same line, so line numbers still match the traceback's."""
_PARSING = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time: CPython 3.11 keeps the AST constructor's recursion depth in the
    interpreter, not the thread, so two grading threads parsing at once fail at random with "AST
    constructor recursion depth mismatch" (python/cpython#106905)."""
    with _PARSING:
        return ast.parse(source)


def parsed_cell(source: str) -> ast.Module | None:
    """The cell as Python (shell and magic lines as plain statements; a cell magic is not Python), or None
    when it cannot be read. One pass over the text: IPython's own transformer re-reads the cell per magic."""
    if source.lstrip().startswith("%%"):
        return None
    try:
        return parse_python(SHELL_OR_MAGIC.sub(_as_python, source))
    except Exception:  # the student's text: a syntax error, nesting past the parser's limits, a null byte
        return None


def _as_python(line: re.Match[str]) -> str:
    indent, target = line.group(1), line.group(2)
    return f"{indent}{target} = None" if target else f"{indent}pass"
