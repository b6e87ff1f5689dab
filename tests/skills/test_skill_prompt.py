"""The skills section of the system prompt: most relevant first, within a character budget,
with the skills left out counted."""

from __future__ import annotations

from pathlib import Path

from agentcycle import Agent, RunConfig, Runner, ToolPolicy
from agentcycle.skills import Skill, discover_skills, rank_skills, render_skills_section
from agentcycle.testing import ScriptedModel, call_tool

from .skill_files import write_skill


def skill(name: str, description: str) -> Skill:
    return Skill(name=name, description=description, instructions="Do it.", path=Path(name))


SKILLS = [
    skill("changelog", "Write a changelog entry for merged pull requests."),
    skill("pdf-tools", "Extract text and tables from PDF documents."),
    skill("incident-report", "Summarise a production incident: timeline, impact, follow-ups."),
    skill("api-docs", "Generate reference documentation for an HTTP API."),
]


def listed(section: str) -> list[str]:
    return [line[2:].split(":", 1)[0] for line in section.splitlines() if line.startswith("- ")]


def test_most_relevant_first_then_by_name() -> None:
    ranked = rank_skills(SKILLS, "Extract the tables from these PDFs, then document the API")
    # pdf-tools matches extract, table(s), pdf(s); api-docs matches api; the others tie at zero.
    assert [s.name for s in ranked] == ["pdf-tools", "api-docs", "changelog", "incident-report"]
    assert [s.name for s in rank_skills(SKILLS, "")] == sorted(s.name for s in SKILLS)


def test_relevance_ignores_case_stop_words_and_plural_s() -> None:
    ranked = rank_skills(SKILLS, "THE INCIDENTS and the timeline")
    assert ranked[0].name == "incident-report"
    # Only stop words: no skill is favoured.
    assert [s.name for s in rank_skills(SKILLS, "the and for with")] == sorted(
        s.name for s in SKILLS
    )


def test_everything_listed_when_it_fits() -> None:
    section = render_skills_section(SKILLS, request="incident", budget=10_000)
    assert listed(section) == ["incident-report", "api-docs", "changelog", "pdf-tools"]
    assert section.startswith("## Skills\n") and "activate_skill" in section
    assert "more skills" not in section
    assert "- pdf-tools: Extract text and tables from PDF documents." in section


def test_a_tight_budget_keeps_the_most_relevant_and_counts_the_rest() -> None:
    full = render_skills_section(SKILLS, request="incident", budget=10_000)
    three = full[: full.rindex("\n")]  # the header and the three most relevant lines
    budget = len(three) + len("\n... and 1 more skills (not listed for space).")
    section = render_skills_section(SKILLS, request="incident", budget=budget)
    assert len(section) <= budget
    assert listed(section) == ["incident-report", "api-docs", "changelog"]
    assert section.endswith("... and 1 more skills (not listed for space).")


def test_a_long_description_is_skipped_while_shorter_later_ones_still_fit() -> None:
    wordy = skill("aardvark", "A very long description. " * 30)
    skills = [wordy, *SKILLS]
    section = render_skills_section(skills, budget=700)
    assert len(section) <= 700
    assert "aardvark" not in listed(section) and listed(section)  # others still listed
    assert section.endswith(
        f"... and {len(skills) - len(listed(section))} more skills (not listed for space)."
    )


def test_a_budget_below_header_and_count_lists_no_skill_by_name() -> None:
    section = render_skills_section(SKILLS, budget=10)
    assert listed(section) == []
    assert section.endswith("... and 4 more skills (not listed for space).")


def test_no_skills_no_section_and_the_run_language_is_used() -> None:
    assert render_skills_section([]) == ""
    section = render_skills_section(SKILLS, language="zh-CN", budget=10_000)
    assert section.startswith("## 技能\n") and len(listed(section)) == 4


def finish_model() -> ScriptedModel:
    return ScriptedModel([call_tool("task_finish", {"message": "done"})])


def test_a_run_lists_its_skills_in_the_system_prompt_ranked_by_the_request(
    tmp_path: Path,
) -> None:
    write_skill(tmp_path / "a", "changelog", "Write a changelog entry for merged pull requests.")
    write_skill(tmp_path / "b", "pdf-tools", "Extract text and tables from PDF documents.")
    model = finish_model()
    result = Runner.run_sync(
        Agent(instructions="Be brief.", model=model, skills_dirs=[tmp_path / "a"]),
        "extract the tables from report.pdf",
        config=RunConfig(skills_dirs=(tmp_path / "b",)),
    )
    system = str(result.messages[0].content)
    assert system.startswith("Be brief.\n\n")
    assert listed(system) == ["pdf-tools", "changelog"]
    assert "activate_skill" in model.requests[0].tools


def test_the_run_budget_applies_to_the_system_prompt(tmp_path: Path) -> None:
    for name in ("one", "two", "three"):
        write_skill(tmp_path, name, f"Skill number {name}.")
    full = render_skills_section(discover_skills([tmp_path]).skills)
    one = full.split("\n- three")[0]  # the header and the first line ("one" sorts first)
    budget = len(one) + len("\n... and 2 more skills (not listed for space).")
    result = Runner.run_sync(
        Agent(model=finish_model(), skills_dirs=[tmp_path]),
        "go",
        config=RunConfig(skills_prompt_budget=budget),
    )
    system = str(result.messages[0].content)
    section = system[system.index("## Skills") :]
    assert len(section) <= budget
    assert listed(section) == ["one"] and section.endswith(
        "... and 2 more skills (not listed for space)."
    )


def test_no_section_and_no_tool_without_valid_skills_or_when_policy_denies_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "empty").mkdir()
    model = finish_model()
    result = Runner.run_sync(Agent(model=model, skills_dirs=[tmp_path / "empty"]), "go")
    assert "## Skills" not in str(result.messages[0].content)
    assert "activate_skill" not in model.requests[0].tools

    write_skill(tmp_path / "some", "helper")
    model = finish_model()
    result = Runner.run_sync(
        Agent(model=model, skills_dirs=[tmp_path / "some"]),
        "go",
        config=RunConfig(policy=ToolPolicy.of(disallowed_tools=["activate_skill"])),
    )
    assert "## Skills" not in str(result.messages[0].content)
    assert "activate_skill" not in model.requests[0].tools
