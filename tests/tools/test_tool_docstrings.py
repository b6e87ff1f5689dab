"""Tool and parameter descriptions taken from docstrings."""

from __future__ import annotations

from agentcycle.tools._schema import parse_docstring
from agentcycle.tools.function_tool import function_tool


def test_google_style() -> None:
    @function_tool
    def search(query: str, limit: int = 10, exact: bool = False) -> str:
        """Search the catalogue for products
        matching a query.

        Results are ranked by relevance; this paragraph is not part of the description.

        Args:
            query: Free text; quotes
                force a phrase match.
            limit (int): At most this many
                results.

        Returns:
            A JSON list.
        """
        return ""

    assert search.description == "Search the catalogue for products matching a query."
    props = search.parameters["properties"]
    assert props["query"]["description"] == "Free text; quotes force a phrase match."
    assert props["limit"]["description"] == "At most this many results."
    assert "description" not in props["exact"]


def test_sphinx_style() -> None:
    @function_tool
    def convert(amount: float, currency: str) -> str:
        """Convert an amount.

        :param amount: The amount in cents,
            never negative.
        :param str currency: ISO 4217 code.
        :returns: the converted amount.
        """
        return ""

    assert convert.description == "Convert an amount."
    props = convert.parameters["properties"]
    assert props["amount"]["description"] == "The amount in cents, never negative."
    assert props["currency"]["description"] == "ISO 4217 code."


def test_section_right_after_summary_and_keyword_args() -> None:
    info = parse_docstring(
        """Do it.
        Args:
            a: First.
        Keyword Args:
            b: Second.
        Raises:
            ValueError: never a parameter.
        """
    )
    assert info.description == "Do it."
    assert info.params == {"a": "First.", "b": "Second."}


def test_missing_docstring_and_explicit_description() -> None:
    @function_tool
    def bare(x: int) -> int:
        return x

    @function_tool(description="Given explicitly.")
    def documented(x: int) -> int:
        """From the docstring.

        Args:
            x: The x.
        """
        return x

    assert bare.description == ""
    assert "description" not in bare.parameters["properties"]["x"]
    assert documented.description == "Given explicitly."
    assert documented.parameters["properties"]["x"]["description"] == "The x."
