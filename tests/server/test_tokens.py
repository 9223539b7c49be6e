"""The roster an instructor hands ``xaigrader tokens``: every line it refuses is refused with the line's number."""

from __future__ import annotations

import pytest

from checks.server.tokens import RosterError, RosterLine, read_roster

HEADER = "id,name,email,role\n"


def test_a_roster_gives_each_line_its_role_or_the_default() -> None:
    lines = read_roster(HEADER + "CS2301,Asha Rao,asha@example.edu,\nta1,Tara,tara@example.edu,TA\n", "student")
    assert lines == [
        RosterLine("CS2301", "Asha Rao", "asha@example.edu", "student"),
        RosterLine("ta1", "Tara", "tara@example.edu", "ta"),
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("id,name\nCS2301,Asha\n", "lacks email"),
        (HEADER + "../etc,Eve,eve@example.edu,\n", "line 2: id '../etc' must be"),
        (HEADER + "CS2301,A,a@example.edu,\nCS2301,B,b@example.edu,\n", "line 3: id CS2301 appears twice"),
        (HEADER + "grades.csv,Eve,eve@example.edu,\n", "line 2: id grades.csv is the name of a file"),
        (HEADER + "CS2301,Asha,asha@example.edu,admin\n", "role 'admin' is not one of"),
    ],
)
def test_a_roster_line_that_cannot_be_a_member_is_refused_with_its_number(text: str, said: str) -> None:
    with pytest.raises(RosterError) as refused:
        read_roster(text, "student")
    assert said in str(refused.value)
