"""``JsonlTraceExporter``: ended spans as JSON Lines, one object per span (``Span.to_dict``).

Spans are buffered and written when a top-level run span ends (a run segment finished), or
once ``max_buffered`` spans are waiting, as one ``O_APPEND`` write of whole lines: one small
write per run rather than one per span, and lines from concurrent writers never interleave.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentcycle._json import dumps
from agentcycle.tracing.spans import Span


class JsonlTraceExporter:
    """A ``TraceProcessor`` that appends ended spans to a JSON Lines file."""

    def __init__(self, path: str | os.PathLike[str], *, max_buffered: int = 512) -> None:
        self.path = Path(path)
        self.max_buffered = max_buffered
        self._spans: list[Span] = []

    def on_span_start(self, span: Span) -> None:
        """Nothing is written for a span until it ends."""

    def on_span_end(self, span: Span) -> None:
        """Buffer the span; write the buffer at the end of a top-level run."""
        self._spans.append(span)
        if (span.kind == "run" and span.parent_span_id is None) or len(
            self._spans
        ) >= self.max_buffered:
            self.flush()

    def flush(self) -> None:
        """Write the buffered spans now."""
        if not self._spans:
            return
        data = "".join(dumps(span.to_dict()) + "\n" for span in self._spans).encode()
        self._spans = []
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
