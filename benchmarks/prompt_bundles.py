"""What prompt bundles cost per model call, where they cost anything.

Per cycle the loop only compares the system message with the previous call's by identity;
the run's bundle is built once per run start. What remains per call is the Anthropic
converter: system blocks come from its per-message wire cache, and the last two user turns
are copied with a cache breakpoint. This prints CPU µs per ``convert`` of a growing history with
a plain system message and with a bundle (same texts), and µs to build a run's system message
from a string and from a bundle (once per run, cached across runs of the same agent).

Run: ``.venv/bin/python benchmarks/prompt_bundles.py``.
"""

from __future__ import annotations

import argparse
import time
import timeit

from agentcycle.messages import (
    AssistantMessage,
    Message,
    PromptSection,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.models._convert_anthropic import MessageConverter
from agentcycle.prompts import PromptBundle, current_time_section
from agentcycle.runtime.prompts import agent_bundle, run_system_message

RULES = "Follow the operating procedure exactly.\n" * 200


def history(system: Message, cycles: int) -> list[Message]:
    """A run's history after ``cycles`` tool cycles."""
    messages: list[Message] = [system, UserMessage(content="Review PR #7")]
    for i in range(cycles):
        call = ToolCall(id=f"t{i}", name="read", arguments='{"path": "a.py"}')
        messages.append(AssistantMessage(content="Reading.", tool_calls=(call,)))
        messages.append(ToolMessage(tool_call_id=f"t{i}", name="read", content="x = 1\n" * 20))
    return messages


def per_call_us(messages: list[Message], number: int) -> float:
    """µs per ``convert`` with a warm wire cache (every message seen before, as in a run)."""
    converter = MessageConverter()
    converter.convert(messages)
    timer = timeit.Timer(lambda: converter.convert(messages), timer=time.process_time)
    return timer.timeit(number) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--number", type=int, default=2000, help="calls timed per size")
    args = parser.parse_args()
    bundle = PromptBundle.of(
        PromptSection(id="agent", text=RULES),
        current_time_section(),
        PromptSection(id="b", text="B"),
    )
    plain = SystemMessage(content=bundle.text())
    sectioned = bundle.to_message()
    print("Anthropic convert, CPU µs per call (warm wire cache)")
    print(f"{'cycles':>7} {'plain':>9} {'bundle':>9} {'extra':>9}")
    for n in args.cycles:
        number = max(20, args.number // max(1, n // 10))
        a = min(per_call_us(history(plain, n), number) for _ in range(3))
        b = min(per_call_us(history(sectioned, n), number) for _ in range(3))
        print(f"{n:>7} {a:>9.2f} {b:>9.2f} {b - a:>9.2f}")

    def build(instructions: str | PromptBundle) -> SystemMessage:
        run_system_message.cache_clear()  # what a run of a new agent pays
        return run_system_message(
            agent_bundle(instructions), skills=None, context=None, language="en-US"
        )

    print("run system message, CPU µs per run start (uncached)")
    for name, value in (("string", RULES), ("bundle", bundle)):
        timer = timeit.Timer(lambda v=value: build(v), timer=time.process_time)
        took = min(timer.repeat(number=2000, repeat=3)) / 2000 * 1e6
        print(f"{name:>7} {took:>9.2f}")


if __name__ == "__main__":
    main()
