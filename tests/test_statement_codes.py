"""Statement codes stay in tests and conformance tables, out of the library.

The design documents number their statements (S1-S3, R1-R4, G1-G4, I1-I6,
E1-E6, D1-D5, A1-A7 in otp-semantics.md; P1-P5, Q1-Q6, O1-O9, T1-T4, L1-L2,
C1-C4, K1 in provider-streaming.md). Tests cite them; the library's
docstrings and comments say the behaviour in words instead, so they read on
their own. This test finds a code in any comment or docstring (any string
statement, which includes attribute docstrings) of ``synapsis_actors``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "synapsis_actors"

# Every letter the design documents number statements with.
CODE = re.compile(r"\b[ACDEGIKLOPQRST]\d{1,2}\b")


def statement_codes(path: Path) -> list[tuple[int, str, str]]:
    """(line, code, "comment" | "docstring") for each code in ``path``'s prose."""
    source = path.read_text(encoding="utf-8")
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found += [(token.start[0], m.group(), "comment") for m in CODE.finditer(token.string)]
    for node in ast.walk(ast.parse(source, str(path))):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            text = node.value.value
            found += [
                (node.lineno + text[: m.start()].count("\n"), m.group(), "docstring")
                for m in CODE.finditer(text)
            ]
    return sorted(found)


def test_no_statement_codes_in_the_library() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}: {code} in a {kind}"
        for path in sorted(ROOT.rglob("*.py"))
        for line, code, kind in statement_codes(path)
    ]
    assert found == [], "\n".join(["say the behaviour in words instead of:", *found])


def test_the_finder_sees_comments_and_docstrings_only(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_text(
        '"""A module.\n'  # 1
        "\n"  # 2
        'Cancellation (C1) and T1-T4."""\n'  # 3
        "\n"  # 4
        "import h2  # Q1: after message_stop\n"  # 5
        'MESSAGE = "see P5, S3"  # a value, not prose\n'  # 6
        "HTTP2 = K10 = O100 = 1  # none of C12x, xC1, P\n"  # 7
        "\n"  # 8
        "\n"  # 9
        "def f() -> None:\n"  # 10
        '    """Drops it (A4)."""\n'  # 11
        "\n"  # 12
        "\n"  # 13
        "class C:\n"  # 14
        "    x = 1\n"  # 15
        '    """An attribute docstring: L2."""\n',  # 16
        encoding="utf-8",
    )
    assert statement_codes(path) == [
        (3, "C1", "docstring"),
        (3, "T1", "docstring"),
        (3, "T4", "docstring"),
        (5, "Q1", "comment"),
        (11, "A4", "docstring"),
        (16, "L2", "docstring"),
    ]
