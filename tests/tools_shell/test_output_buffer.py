"""The bounded head/tail output buffer."""

from __future__ import annotations

from agentcycle.tools.builtin._processes import OutputBuffer


def feed_in_chunks(buffer: OutputBuffer, data: bytes, size: int) -> None:
    for start in range(0, len(data), size):
        buffer.feed(data[start : start + size])


def test_small_output_is_kept_whole() -> None:
    buffer = OutputBuffer(head_chars=10, tail_chars=10)
    feed_in_chunks(buffer, b"0123456789abcdefghij", 3)
    assert buffer.render() == ("0123456789abcdefghij", False)
    assert buffer.total_bytes == 20


def test_output_over_the_budget_keeps_head_and_tail() -> None:
    buffer = OutputBuffer(head_chars=4, tail_chars=3)
    feed_in_chunks(buffer, b"HEAD" + b"." * 1000 + b"END", 7)
    text, truncated = buffer.render()
    assert truncated is True
    assert text == "HEAD\n\n[... 1000 bytes of output omitted ...]\n\nEND"
    assert buffer.total_bytes == 1007


def test_memory_stays_bounded_for_huge_streams() -> None:
    buffer = OutputBuffer(head_chars=100, tail_chars=100)
    for _ in range(10_000):
        buffer.feed(b"x" * 1000)
    assert buffer.total_bytes == 10_000_000
    assert len(buffer._head) + len(buffer._tail) <= 100 * 4 + 2 * 100 * 4 + 1000


def test_multibyte_characters_are_not_cut_in_half() -> None:
    buffer = OutputBuffer(head_chars=5, tail_chars=5)
    # 4-byte characters, misaligned with the byte budgets at both ends and fed in 7-byte
    # chunks: the head's last and the tail's first kept character are cut in half.
    feed_in_chunks(buffer, ("a" + "😀" * 5000 + "z").encode(), 7)
    text, truncated = buffer.render()
    assert truncated is True
    head, _, tail = text.partition("\n\n[...")
    assert head == "a😀😀😀😀"
    assert tail.endswith("]\n\n😀😀😀😀z")
    assert "\ufffd" not in text


def test_discarded_output_is_counted_but_not_kept() -> None:
    buffer = OutputBuffer(head_chars=10, tail_chars=10)
    buffer.feed(b"before")
    buffer.discard()
    buffer.feed(b"after")
    text, _ = buffer.render()
    assert "before" not in text
    assert "after" not in text
    assert buffer.total_bytes == 11
