"""edit_file's diff: a correct unified diff (it patches the old text into the new one)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentcycle.tools.builtin._diff import replacement_diff, split_lines

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n")


def apply_patch(old: str, diff: str) -> str:
    """Apply a unified diff, checking every context line and every hunk header against it."""
    source = split_lines(old)
    lines = split_lines(diff)
    assert lines[0].startswith("--- a/") and lines[1].startswith("+++ b/")
    out: list[str] = []
    at = 0  # next unread line of ``source``
    index = 2
    while index < len(lines):
        header = _HUNK.fullmatch(lines[index])
        assert header, lines[index]
        old_start, old_count, new_start, new_count = (
            int(value) if value is not None else 1 for value in header.groups()
        )
        start = old_start - 1 if old_count else old_start
        assert start >= at, "hunks overlap or go backwards"
        out += source[at:start]
        assert (new_start - 1 if new_count else new_start) == len(out)
        at = start
        seen_old = seen_new = 0
        index += 1
        while index < len(lines) and not lines[index].startswith("@@"):
            line = lines[index]
            tag, body = line[0], line[1:]
            if line.startswith("\\ No newline"):  # applied to the line before, below
                index += 1
                continue
            no_newline = index + 1 < len(lines) and lines[index + 1].startswith("\\ No newline")
            text = body.removesuffix("\n") if no_newline else body
            if tag in " -":
                assert source[at] == text, (source[at], text)
                at += 1
                seen_old += 1
            if tag in " +":
                out.append(text)
                seen_new += 1
            index += 1
        assert (seen_old, seen_new) == (old_count, new_count)
    return "".join(out + source[at:])


def test_a_replacement_in_the_middle_of_a_file() -> None:
    old = "".join(f"line {i}\n" for i in range(1, 21))
    diff, cut = replacement_diff("f.txt", old, "line 10\n", "ten\n10\n", replace_all=False)
    assert not cut
    assert diff == (
        "--- a/f.txt\n+++ b/f.txt\n@@ -7,7 +7,8 @@\n line 7\n line 8\n line 9\n"
        "-line 10\n+ten\n+10\n line 11\n line 12\n line 13\n"
    )


def test_a_replacement_without_a_final_newline_is_marked() -> None:
    diff, _ = replacement_diff("f.txt", "a\nb", "b", "c", replace_all=False)
    assert diff.endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")


def test_distant_replacements_get_separate_hunks() -> None:
    old = "x\n" + "same\n" * 20 + "x\n"
    diff, _ = replacement_diff("f.txt", old, "x", "y", replace_all=True)
    assert diff.count("@@ -") == 2
    assert apply_patch(old, diff) == old.replace("x", "y")


texts = st.text(alphabet="ab\n\r", max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    text=texts, old=st.text(alphabet="ab\n", min_size=1, max_size=4), new=texts, every=st.booleans()
)
def test_the_diff_patches_old_into_new(text: str, old: str, new: str, every: bool) -> None:
    if old not in text or old == new:
        text = text + old
    updated = text.replace(old, new) if every else text.replace(old, new, 1)
    diff, cut = replacement_diff("f.txt", text, old, new, replace_all=every, max_chars=10**9)
    assert not cut
    assert apply_patch(text, diff) == updated
