"""Discovery and validation: good skills load, each bad one becomes a typed issue, and a bad
skill never stops the others from loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcycle.errors import ConfigurationError, SkillFrontmatterError
from agentcycle.skills import MAX_SKILL_FILE_BYTES, SkillCatalog, discover_skills, load_skill

from .skill_files import write_skill, write_skill_text


def issue_codes(catalog: SkillCatalog) -> dict[str, str]:
    return {Path(issue.path).name: issue.code for issue in catalog.issues}


def test_a_valid_skill_loads_with_every_field(tmp_path: Path) -> None:
    write_skill(
        tmp_path,
        "pdf-tools",
        "Extract text and tables from PDF files.",
        body="# PDF\n\nUse `read_file` on the extracted text.\n",
        allowed_tools=["read_file", "search_files"],
        metadata={"version": "1.2", "owner": "docs-team"},
        license="MIT",
    )
    catalog = discover_skills([tmp_path])
    assert catalog.issues == ()
    [skill] = catalog.skills
    assert skill.name == "pdf-tools"
    assert skill.description == "Extract text and tables from PDF files."
    assert skill.instructions == "# PDF\n\nUse `read_file` on the extracted text."
    assert skill.allowed_tools == ("read_file", "search_files")
    assert skill.metadata == {"version": "1.2", "owner": "docs-team"}
    assert skill.path == tmp_path / "pdf-tools"
    assert catalog.get("pdf-tools") is skill and catalog.get("other") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("read_file search_files", ("read_file", "search_files")),
        ("read_file, search_files,bash", ("read_file", "search_files", "bash")),
        ("read_file read_file", ("read_file",)),
        ([], ()),
        (None, None),
    ],
)
def test_allowed_tools_as_a_list_or_a_separated_string(
    tmp_path: Path, value: object, expected: tuple[str, ...] | None
) -> None:
    extra = {} if value is None else {"allowed_tools": value}
    write_skill(tmp_path, "one", **extra)
    [skill] = discover_skills([tmp_path]).skills
    assert skill.allowed_tools == expected


BAD_SKILLS: dict[str, tuple[str | bytes, str, str]] = {
    # directory: (SKILL.md text, error code, a fragment of the message)
    "Bad_Name": (
        "---\nname: Bad_Name\ndescription: d\n---\nB\n",
        "invalid_skill_name",
        "lowercase letters and digits",
    ),
    "trailing-": (
        "---\nname: trailing-\ndescription: d\n---\nB\n",
        "invalid_skill_name",
        "'trailing-'",
    ),
    "x" * 65: (f"---\nname: {'x' * 65}\ndescription: d\n---\nB\n", "invalid_skill_name", "1..64"),
    "numeric": ("---\nname: 12\ndescription: d\n---\nB\n", "invalid_skill_name", "string"),
    "no-name": ("---\ndescription: d\n---\nB\n", "missing_skill_field", "'name'"),
    "no-description": (
        "---\nname: no-description\n---\nBody.\n",
        "missing_skill_field",
        "'description'",
    ),
    "blank-description": (
        "---\nname: blank-description\ndescription: '  '\n---\nB\n",
        "missing_skill_field",
        "'description'",
    ),
    "too-wordy": (
        "---\nname: too-wordy\ndescription: " + "word " * 300 + "\n---\nB\n",
        "skill_too_large",
        "1024",
    ),
    "huge": (
        "---\nname: huge\ndescription: big\n---\n" + "x" * MAX_SKILL_FILE_BYTES,
        "skill_too_large",
        str(MAX_SKILL_FILE_BYTES),
    ),
    "broken-yaml": (
        "---\nname: broken-yaml\ndescription: [oops\n---\nB\n",
        "invalid_skill_frontmatter",
        "line 4",
    ),
    "other-dir": (
        "---\nname: real-name\ndescription: d\n---\nB\n",
        "skill_name_mismatch",
        "'other-dir'",
    ),
    "no-frontmatter": ("# Just markdown\n", "invalid_skill_frontmatter", "start with a '---'"),
    "unclosed": (
        "---\nname: unclosed\ndescription: d\nBody\n",
        "invalid_skill_frontmatter",
        "never closed",
    ),
    "list-yaml": ("---\n- a\n- b\n---\nBody\n", "invalid_skill_frontmatter", "mapping"),
    "dup-keys": (
        "---\nname: dup-keys\ndescription: a\ndescription: b\n---\nB\n",
        "invalid_skill_frontmatter",
        "duplicate key 'description'",
    ),
    "empty-body": (
        "---\nname: empty-body\ndescription: d\n---\n  \n",
        "missing_skill_field",
        "no instructions",
    ),
    "bad-tools": (
        "---\nname: bad-tools\ndescription: d\nallowed-tools: [read_file, 'Bash(git:*)']\n---\nB\n",
        "invalid_skill_field",
        "'Bash(git:*)'",
    ),
    "tools-mapping": (
        "---\nname: tools-mapping\ndescription: d\nallowed-tools: {a: 1}\n---\nB\n",
        "invalid_skill_field",
        "list or a string",
    ),
    "bad-metadata": (
        "---\nname: bad-metadata\ndescription: d\nmetadata: [a, b]\n---\nB\n",
        "invalid_skill_field",
        "'metadata'",
    ),
    "latin1": (
        "---\nname: latin1\ndescription: caf\xe9\n---\nB\n".encode("latin-1"),
        "unreadable_skill",
        "UTF-8",
    ),
}


@pytest.mark.parametrize("directory", sorted(BAD_SKILLS))
def test_a_bad_skill_is_one_typed_issue_and_its_neighbours_load(
    tmp_path: Path, directory: str
) -> None:
    text, code, fragment = BAD_SKILLS[directory]
    write_skill(tmp_path, "alpha")
    bad = write_skill_text(tmp_path, directory, text)
    write_skill(tmp_path, "zulu")

    catalog = discover_skills([tmp_path])

    assert [skill.name for skill in catalog.skills] == ["alpha", "zulu"]
    [issue] = catalog.issues
    assert (issue.path, issue.code) == (str(bad), code)
    assert fragment in issue.message


def test_many_bad_skills_at_once_leave_the_good_ones_loaded(tmp_path: Path) -> None:
    for directory, (text, _, _) in BAD_SKILLS.items():
        write_skill_text(tmp_path, directory, text)
    write_skill(tmp_path, "good-one")
    (tmp_path / "no-skill-file").mkdir()
    (tmp_path / ".hidden").mkdir()  # skipped: hidden
    (tmp_path / "_shared").mkdir()  # skipped: private helper directory
    (tmp_path / "README.md").write_text("not a skill")  # files in a root are ignored

    catalog = discover_skills([tmp_path])

    assert [skill.name for skill in catalog.skills] == ["good-one"]
    assert issue_codes(catalog) == {
        **{directory: code for directory, (_, code, _) in BAD_SKILLS.items()},
        "no-skill-file": "skill_file_missing",
    }


def test_the_issue_names_the_skill_when_it_was_read(tmp_path: Path) -> None:
    write_skill(tmp_path, "pdf-tools", metadata="not a mapping")
    [issue] = discover_skills([tmp_path]).issues
    assert issue.name == "pdf-tools"
    assert issue.to_dict() == {
        "path": str(tmp_path / "pdf-tools"),
        "code": "invalid_skill_field",
        "message": "'metadata' must be a mapping with string keys",
        "name": "pdf-tools",
    }


def test_roots_in_order_first_name_wins_and_a_root_may_be_one_skill(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_skill(first, "shared", "From the first root.")
    write_skill(second, "shared", "From the second root.")
    write_skill(second, "extra")
    single = write_skill(tmp_path / "single", "solo")

    catalog = discover_skills([first, second, single])

    assert [(s.name, s.description) for s in catalog.skills] == [
        ("shared", "From the first root."),
        ("extra", "Does one thing well."),
        ("solo", "Does one thing well."),
    ]
    [issue] = catalog.issues
    assert issue.code == "duplicate_skill" and issue.path == str(second / "shared")
    assert str(first / "shared") in issue.message


def test_a_directory_given_twice_is_read_once(tmp_path: Path) -> None:
    write_skill(tmp_path / "skills", "only")
    catalog = discover_skills([tmp_path / "skills", tmp_path / "skills" / ".." / "skills"])
    assert [s.name for s in catalog.skills] == ["only"] and catalog.issues == ()


def test_a_root_that_is_not_a_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a directory"):
        discover_skills([tmp_path / "missing"])


def test_load_skill_raises_the_typed_error(tmp_path: Path) -> None:
    path = write_skill_text(tmp_path, "broken", "---\nname: [\n---\nB\n")
    with pytest.raises(SkillFrontmatterError) as caught:
        load_skill(path)
    assert caught.value.code == "invalid_skill_frontmatter"


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path: Path) -> None:
    text = "\ufeff---\r\nname: windows\r\ndescription: Saved on Windows.\r\n---\r\nStep one.\r\n"
    write_skill_text(tmp_path, "windows", text.encode("utf-8"))
    [skill] = discover_skills([tmp_path]).skills
    assert (skill.name, skill.description, skill.instructions) == (
        "windows",
        "Saved on Windows.",
        "Step one.",
    )
