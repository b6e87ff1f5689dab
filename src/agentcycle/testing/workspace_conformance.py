"""Conformance and security suites for :class:`~agentcycle.workspace.WorkspaceBackend`.

Every backend agentcycle ships passes these same tests; run them against your own::

    import pytest
    from agentcycle.testing.workspace_conformance import (
        WorkspaceBackendConformance,
        WorkspaceSecurityConformance,
    )

    class TestMyBackend(WorkspaceBackendConformance, WorkspaceSecurityConformance):
        @pytest.fixture
        async def backend(self):
            yield MyBackend(...)  # a fresh, empty workspace for every test

Override the ``outside`` fixture with an :class:`OutsideProbe` that can see the storage
around the workspace (a sibling directory, the rest of the bucket) so the security suite
can prove that nothing outside is created, changed or read. The suites need pytest with
pytest-asyncio in auto mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from agentcycle.errors import AgentcycleError
from agentcycle.testing._workspace_security import (
    HOSTILE_PATHS,
    ONE_PER_METHOD,
    PATH_OPERATIONS,
    OutsideProbe,
    WorkspaceSecurityConformance,
)
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.paths import normalize_path

__all__ = [
    "HOSTILE_PATHS",
    "ONE_PER_METHOD",
    "PATH_OPERATIONS",
    "OutsideProbe",
    "WorkspaceBackendConformance",
    "WorkspaceSecurityConformance",
    "expect_error",
]


@contextmanager
def expect_error(code: str) -> Iterator[None]:
    """Assert that the block raises an agentcycle error with this ``code``."""
    with pytest.raises(AgentcycleError) as caught:
        yield
    assert caught.value.code == code, f"expected {code}, got {caught.value.code}: {caught.value}"


async def _chunks(*parts: bytes, fail_after: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail_after:
        raise RuntimeError("stream broke")


async def _paths(backend: WorkspaceBackend, path: str = "", glob: str = "**") -> list[str]:
    return [entry.path async for entry in backend.list(path, glob=glob)]


class WorkspaceBackendConformance:
    """Behaviour every workspace backend shares. Provide a ``backend`` fixture.

    ``big_stream_bytes`` sizes the large streamed write (raise it above a backend's
    multipart threshold to exercise multipart uploads).
    """

    big_stream_bytes = 3 * 1024 * 1024

    @pytest.fixture
    def backend(self) -> WorkspaceBackend:
        """A fresh, empty workspace. Subclasses must override this."""
        raise NotImplementedError("subclasses provide a `backend` fixture")

    # -- reading and writing ---------------------------------------------------------------

    async def test_write_then_read(self, backend: WorkspaceBackend) -> None:
        assert await backend.write("notes.md", "héllo\n") == len("héllo\n".encode())
        assert await backend.read_text("notes.md") == "héllo\n"
        assert await backend.read_bytes("notes.md") == "héllo\n".encode()

    async def test_binary_and_empty_files_roundtrip(self, backend: WorkspaceBackend) -> None:
        every_byte = bytes(range(256)) * 4
        await backend.write("blob.bin", every_byte)
        await backend.write("empty.txt", b"")
        assert await backend.read_bytes("blob.bin") == every_byte
        assert await backend.read_bytes("empty.txt") == b""
        assert await backend.read_text("empty.txt") == ""
        assert (await backend.info("empty.txt")).size == 0

    async def test_overwrite_replaces_content(self, backend: WorkspaceBackend) -> None:
        await backend.write("f.txt", "a much longer first version")
        await backend.write("f.txt", "short")
        assert await backend.read_text("f.txt") == "short"

    async def test_append_adds_to_the_end_and_creates(self, backend: WorkspaceBackend) -> None:
        await backend.write("log.txt", "one\n", mode="append")
        await backend.write("log.txt", "two\n", mode="append")
        assert await backend.read_text("log.txt") == "one\ntwo\n"

    async def test_create_refuses_an_existing_file(self, backend: WorkspaceBackend) -> None:
        await backend.write("once.txt", "first", mode="create")
        with expect_error("file_exists"):
            await backend.write("once.txt", "second", mode="create")
        assert await backend.read_text("once.txt") == "first"

    async def test_concurrent_creates_have_one_winner(self, backend: WorkspaceBackend) -> None:
        async def attempt(index: int) -> int | None:
            try:
                await backend.write("lock", f"writer {index}", mode="create")
            except AgentcycleError as error:
                assert error.code == "file_exists"
                return None
            return index

        winners = [
            i for i in await asyncio.gather(*(attempt(i) for i in range(8))) if i is not None
        ]
        assert len(winners) == 1
        assert await backend.read_text("lock") == f"writer {winners[0]}"

    async def test_unknown_write_mode_is_rejected(self, backend: WorkspaceBackend) -> None:
        with pytest.raises(ValueError, match="mode"):
            await backend.write("x", "y", mode="sideways")  # type: ignore[arg-type]

    async def test_write_creates_parent_directories(self, backend: WorkspaceBackend) -> None:
        await backend.write("a/b/c/deep.txt", "x")
        for directory in ("a", "a/b", "a/b/c"):
            assert (await backend.info(directory)).is_dir

    async def test_creating_below_a_file_is_not_a_directory(
        self, backend: WorkspaceBackend
    ) -> None:
        await backend.write("plain.txt", "x")
        with expect_error("not_a_directory"):
            await backend.write("plain.txt/child.txt", "y")
        with expect_error("not_a_directory"):
            await backend.write_stream("plain.txt/deeper/child.txt", _chunks(b"y"))
        with expect_error("not_a_directory"):
            await backend.mkdir("plain.txt/sub")
        assert await backend.read_text("plain.txt") == "x"

    async def test_writing_a_directory_is_an_error(self, backend: WorkspaceBackend) -> None:
        await backend.mkdir("folder")
        for mode in ("overwrite", "append", "create"):
            with expect_error("is_a_directory"):
                await backend.write("folder", "x", mode=mode)  # type: ignore[arg-type]
        with expect_error("is_a_directory"):
            await backend.write_stream("folder", _chunks(b"x"))
        with expect_error("is_a_directory"):
            await backend.write("", "x")

    async def test_missing_paths_are_file_not_found(self, backend: WorkspaceBackend) -> None:
        await backend.write("present.txt", "x")
        for path in ("absent.txt", "no/such/dir.txt", "present.txt/below"):
            with expect_error("file_not_found"):
                await backend.read_bytes(path)
            with expect_error("file_not_found"):
                await backend.read_text(path)
            with expect_error("file_not_found"):
                await backend.info(path)
            assert await backend.exists(path) is False

    async def test_reading_a_directory_is_an_error(self, backend: WorkspaceBackend) -> None:
        await backend.mkdir("d")
        for path in ("d", "", "."):
            with expect_error("is_a_directory"):
                await backend.read_bytes(path)
            with expect_error("is_a_directory"):
                await backend.read_text(path)

    async def test_non_utf8_text_is_unsupported_encoding(self, backend: WorkspaceBackend) -> None:
        await backend.write("latin1.txt", "café".encode("latin-1"))
        with expect_error("unsupported_encoding"):
            await backend.read_text("latin1.txt")
        assert await backend.read_bytes("latin1.txt") == "café".encode("latin-1")

    async def test_byte_ranges(self, backend: WorkspaceBackend) -> None:
        await backend.write("digits", b"0123456789")
        cases = {
            (0, None): b"0123456789",
            (2, 5): b"234",
            (8, None): b"89",
            (8, 100): b"89",
            (10, None): b"",
            (50, 60): b"",
            (3, 3): b"",
        }
        for (start, end), expected in cases.items():
            assert await backend.read_bytes("digits", start=start, end=end) == expected
        with pytest.raises(ValueError):
            await backend.read_bytes("digits", start=-1)
        with pytest.raises(ValueError):
            await backend.read_bytes("digits", start=5, end=4)
        with expect_error("file_not_found"):
            await backend.read_bytes("absent", start=3, end=3)

    async def test_text_ranges_drop_cut_characters(self, backend: WorkspaceBackend) -> None:
        text = "aé€😀b"  # 1 + 2 + 3 + 4 + 1 bytes
        await backend.write("mixed.txt", text)
        assert await backend.read_text("mixed.txt", start=2, end=6) == "€"
        assert await backend.read_text("mixed.txt", start=1, end=5) == "é"
        assert await backend.read_text("mixed.txt", start=6) == "😀b"
        assert await backend.read_text("mixed.txt", start=0, end=100) == text
        await backend.write("cut.txt", "ab€".encode()[:-1])  # the file itself ends mid-character
        with expect_error("unsupported_encoding"):
            await backend.read_text("cut.txt", start=0, end=100)

    async def test_info_and_exists(self, backend: WorkspaceBackend) -> None:
        before = time.time()
        await backend.write("dir/file.txt", "12345")
        entry = await backend.info("dir/file.txt")
        assert (entry.path, entry.name, entry.kind, entry.size) == (
            "dir/file.txt",
            "file.txt",
            "file",
            5,
        )
        assert entry.modified is not None
        assert before - 300 < entry.modified < time.time() + 300
        directory = await backend.info("dir")
        assert (directory.path, directory.kind, directory.size) == ("dir", "directory", None)
        root = await backend.info("")
        assert root.is_dir and root.path == ""
        assert await backend.exists("dir") and await backend.exists("dir/file.txt")
        assert await backend.exists("") and await backend.exists(".")

    async def test_local_root_points_at_the_files(self, backend: WorkspaceBackend) -> None:
        await backend.write("here.txt", "content")
        root = backend.local_root
        if root is not None:
            assert (root / "here.txt").read_text() == "content"

    # -- directories -----------------------------------------------------------------------

    async def test_mkdir(self, backend: WorkspaceBackend) -> None:
        await backend.mkdir("x/y/z")
        await backend.mkdir("x/y/z")  # existing directories are fine
        await backend.mkdir("")
        assert (await backend.info("x/y/z")).is_dir
        assert await _paths(backend) == ["x", "x/y", "x/y/z"]
        await backend.write("file", "f")
        with expect_error("file_exists"):
            await backend.mkdir("file")

    async def test_delete_file_keeps_its_directory(self, backend: WorkspaceBackend) -> None:
        await backend.write("d/only.txt", "x")
        await backend.delete("d/only.txt")
        assert not await backend.exists("d/only.txt")
        assert (await backend.info("d")).is_dir
        assert await _paths(backend) == ["d"]

    async def test_delete_directories(self, backend: WorkspaceBackend) -> None:
        await backend.mkdir("empty")
        await backend.delete("empty")
        assert not await backend.exists("empty")
        await backend.write("full/a.txt", "a")
        await backend.write("full/sub/b.txt", "b")
        with expect_error("directory_not_empty"):
            await backend.delete("full")
        assert await backend.read_text("full/sub/b.txt") == "b"
        await backend.delete("full", recursive=True)
        assert await _paths(backend) == []

    async def test_delete_errors(self, backend: WorkspaceBackend) -> None:
        with expect_error("file_not_found"):
            await backend.delete("ghost")
        with expect_error("invalid_operation"):
            await backend.delete("")
        with expect_error("invalid_operation"):
            await backend.delete("./", recursive=True)

    async def test_move_file(self, backend: WorkspaceBackend) -> None:
        await backend.write("src/a.txt", "payload")
        await backend.move("src/a.txt", "dst/deeper/b.txt")
        assert await backend.read_text("dst/deeper/b.txt") == "payload"
        assert not await backend.exists("src/a.txt")
        assert (await backend.info("src")).is_dir  # the source's directory stays
        await backend.move("dst/deeper/b.txt", "dst/deeper/b.txt")  # onto itself: nothing

    async def test_move_respects_existing_targets(self, backend: WorkspaceBackend) -> None:
        await backend.write("a.txt", "new")
        await backend.write("b.txt", "old")
        await backend.mkdir("folder")
        with expect_error("file_exists"):
            await backend.move("a.txt", "b.txt")
        with expect_error("file_exists"):
            await backend.move("a.txt", "folder", overwrite=True)
        with expect_error("file_exists"):
            await backend.move("folder", "b.txt", overwrite=True)
        with expect_error("file_exists"):
            await backend.move("a.txt", "")
        assert await backend.read_text("b.txt") == "old"
        await backend.move("a.txt", "b.txt", overwrite=True)
        assert await backend.read_text("b.txt") == "new"
        assert not await backend.exists("a.txt")

    async def test_move_directory_with_contents(self, backend: WorkspaceBackend) -> None:
        await backend.write("tree/one.txt", "1")
        await backend.write("tree/sub/two.txt", "2")
        await backend.mkdir("tree/empty")
        await backend.move("tree", "moved/tree")
        assert await _paths(backend) == [
            "moved",
            "moved/tree",
            "moved/tree/empty",
            "moved/tree/one.txt",
            "moved/tree/sub",
            "moved/tree/sub/two.txt",
        ]
        assert await backend.read_text("moved/tree/sub/two.txt") == "2"

    async def test_move_errors(self, backend: WorkspaceBackend) -> None:
        await backend.write("dir/file.txt", "x")
        await backend.write("plain", "p")
        with expect_error("file_not_found"):
            await backend.move("ghost", "anywhere")
        with expect_error("invalid_operation"):
            await backend.move("dir", "dir/inside")
        with expect_error("invalid_operation"):
            await backend.move("", "elsewhere")
        with expect_error("not_a_directory"):
            await backend.move("dir/file.txt", "plain/file.txt")
        assert await backend.read_text("dir/file.txt") == "x"

    # -- paths -----------------------------------------------------------------------------

    async def test_paths_are_normalised(self, backend: WorkspaceBackend) -> None:
        await backend.write("./a//b\\c.txt", "x")
        assert await backend.read_text("a/b/c.txt") == "x"
        assert await backend.read_text("a/./b/../b/c.txt/") == "x"
        assert await _paths(backend) == ["a", "a/b", "a/b/c.txt"]
        assert (await backend.info("a/b/../b/c.txt")).path == "a/b/c.txt"

    async def test_unusual_names_are_literal(self, backend: WorkspaceBackend) -> None:
        names = [
            "é/ü.txt",
            "日本語.md",
            "space name.txt",
            "%2e%2e",
            "．．",
            "...",
            "-rf",
            "#hash",
            "x/a:b",
            "[x].txt",
            "{y}.txt",
            "emoji😀",
            "~",
            "\u2028sep",
        ]
        for index, name in enumerate(names):
            await backend.write(name, str(index))
        for index, name in enumerate(names):
            assert await backend.read_text(name) == str(index)
        listed = await _paths(backend)
        assert {normalize_path(name) for name in names} <= set(listed)
        assert all(normalize_path(path) == path for path in listed)

    # -- listing ---------------------------------------------------------------------------

    async def _tree(self, backend: WorkspaceBackend) -> None:
        for path in (
            "README.md",
            "a.txt",
            "a/b.txt",
            "a/b/c.py",
            "a.b/x.py",
            "src/main.py",
            "src/util/helpers.py",
            "src/util/test_helpers.py",
            "tests/test_main.py",
            "z.md",
        ):
            await backend.write(path, path)
        await backend.mkdir("empty")

    async def test_list_children_in_canonical_order(self, backend: WorkspaceBackend) -> None:
        await self._tree(backend)
        entries = await backend.list().collect()
        assert [(e.path, e.is_dir) for e in entries] == [
            ("README.md", False),
            ("a.b", True),
            ("a.txt", False),
            ("a", True),
            ("empty", True),
            ("src", True),
            ("tests", True),
            ("z.md", False),
        ]
        assert [e.path for e in await backend.list("src").collect()] == ["src/main.py", "src/util"]
        assert [e.size for e in entries if not e.is_dir] == [9, 5, 4]

    async def test_list_recursive_in_canonical_order(self, backend: WorkspaceBackend) -> None:
        await self._tree(backend)
        assert await _paths(backend) == [
            "README.md",
            "a.b",
            "a.b/x.py",
            "a.txt",
            "a",
            "a/b.txt",
            "a/b",
            "a/b/c.py",
            "empty",
            "src",
            "src/main.py",
            "src/util",
            "src/util/helpers.py",
            "src/util/test_helpers.py",
            "tests",
            "tests/test_main.py",
            "z.md",
        ]

    async def test_glob_patterns(self, backend: WorkspaceBackend) -> None:
        await self._tree(backend)
        cases = {
            "*.md": ["README.md", "z.md"],
            "**/*.py": [
                "a.b/x.py",
                "a/b/c.py",
                "src/main.py",
                "src/util/helpers.py",
                "src/util/test_helpers.py",
                "tests/test_main.py",
            ],
            "src/**": [
                "src/main.py",
                "src/util",
                "src/util/helpers.py",
                "src/util/test_helpers.py",
            ],
            "*/*.py": ["a.b/x.py", "src/main.py", "tests/test_main.py"],
            "**/test_*.py": ["src/util/test_helpers.py", "tests/test_main.py"],
            "*.{md,txt}": ["README.md", "a.txt", "z.md"],
            "{src,tests}/**/*.py": [
                "src/main.py",
                "src/util/helpers.py",
                "src/util/test_helpers.py",
                "tests/test_main.py",
            ],
            "?.txt": ["a.txt"],
            "[az].*": ["a.b", "a.txt", "z.md"],
            "[!a]*.md": ["README.md", "z.md"],
            "a/b/c.py": ["a/b/c.py"],
            "nothing/**": [],
            "**/*.rs": [],
        }
        for pattern, expected in cases.items():
            assert await _paths(backend, glob=pattern) == expected, pattern
        assert await _paths(backend, "src", "**/*.py") == [
            "src/main.py",
            "src/util/helpers.py",
            "src/util/test_helpers.py",
        ]
        assert await _paths(backend, "src", "*") == ["src/main.py", "src/util"]

    async def test_descend_prunes_directories(self, backend: WorkspaceBackend) -> None:
        await self._tree(backend)
        asked: list[str] = []

        def descend(path: str) -> bool:
            asked.append(path)
            return path not in ("a", "src/util")

        pruned = backend.list(glob="**", descend=descend)
        assert [e.path for e in await pruned.collect()] == [
            "README.md",
            "a.b",
            "a.b/x.py",
            "a.txt",
            "a",
            "empty",
            "src",
            "src/main.py",
            "src/util",
            "tests",
            "tests/test_main.py",
            "z.md",
        ]
        # Pruned directories are examined themselves, their contents are not counted.
        assert pruned.scanned == 12
        assert "a/b" not in asked
        assert set(asked) >= {"a", "a.b", "src", "src/util", "tests"}
        in_src = backend.list("src", glob="**/*.py", descend=lambda path: path != "src/util")
        assert [e.path for e in await in_src.collect()] == ["src/main.py"]
        children = backend.list(descend=lambda path: False)
        assert len(await children.collect()) == 8

    async def test_list_errors(self, backend: WorkspaceBackend) -> None:
        await backend.write("file.txt", "x")
        with expect_error("file_not_found"):
            await backend.list("missing").collect()
        with expect_error("not_a_directory"):
            await backend.list("file.txt").collect()
        with expect_error("path_escapes_workspace"):
            backend.list(glob="../*")
        with expect_error("path_escapes_workspace"):
            backend.list("..")
        with expect_error("invalid_glob"):
            backend.list(glob="./")
        with pytest.raises(ValueError):
            backend.list(limit=0)

    async def test_limit_and_scan_limit(self, backend: WorkspaceBackend) -> None:
        for index in range(20):
            await backend.write(f"f{index:02d}.{'py' if index % 2 else 'txt'}", "x")
        limited = backend.list(limit=5)
        assert [e.path for e in await limited.collect()] == [
            "f00.txt",
            "f01.py",
            "f02.txt",
            "f03.py",
            "f04.txt",
        ]
        assert limited.returned == 5
        scan = backend.list(glob="**", scan_limit=7)
        assert len(await scan.collect()) == 7
        assert (scan.scanned, scan.truncated) == (7, True)
        matching = backend.list(glob="*.py", scan_limit=8)
        assert [e.path for e in await matching.collect()] == [
            "f01.py",
            "f03.py",
            "f05.py",
            "f07.py",
        ]
        assert matching.truncated
        whole = backend.list(glob="**", scan_limit=20)
        assert len(await whole.collect()) == 20
        assert not whole.truncated

    async def test_stopping_early_leaves_the_backend_usable(
        self, backend: WorkspaceBackend
    ) -> None:
        for index in range(60):  # several of the local backend's worker-thread batches
            await backend.write(f"many/{index:04d}", "")
        listing = backend.list("many")
        async for entry in listing:
            assert entry.path == "many/0000"
            break
        await listing.aclose()
        assert listing.returned == 1
        assert await backend.read_text("many/0059") == ""

    # -- streamed writes -------------------------------------------------------------------

    async def test_write_stream(self, backend: WorkspaceBackend) -> None:
        assert await backend.write_stream("s/out.bin", _chunks(b"ab", b"", b"cd")) == 4
        assert await backend.read_bytes("s/out.bin") == b"abcd"
        assert await backend.write_stream("empty.bin", _chunks()) == 0
        assert await backend.read_bytes("empty.bin") == b""
        await backend.write_stream("fresh.bin", _chunks(b"new"), mode="create")
        assert await backend.read_bytes("fresh.bin") == b"new"

    async def test_write_stream_create_refuses_existing(self, backend: WorkspaceBackend) -> None:
        await backend.write("taken.bin", b"original")
        with expect_error("file_exists"):
            await backend.write_stream("taken.bin", _chunks(b"other"), mode="create")
        assert await backend.read_bytes("taken.bin") == b"original"

    async def test_big_write_stream(self, backend: WorkspaceBackend) -> None:
        chunk = bytes(range(256)) * 4096  # 1 MiB
        count = -(-self.big_stream_bytes // len(chunk))
        written = await backend.write_stream("big.bin", _chunks(*[chunk] * count))
        assert written == count * len(chunk)
        assert (await backend.info("big.bin")).size == written
        tail = await backend.read_bytes("big.bin", start=written - 10)
        assert tail == chunk[-10:]

    async def test_failed_stream_leaves_path_unchanged(self, backend: WorkspaceBackend) -> None:
        await backend.write("kept.bin", b"original")
        big = b"x" * (self.big_stream_bytes + 1)
        for parts in ((b"partial",), (big,)):
            with pytest.raises(RuntimeError, match="stream broke"):
                await backend.write_stream("kept.bin", _chunks(*parts, fail_after=True))
            with pytest.raises(RuntimeError, match="stream broke"):
                await backend.write_stream("new.bin", _chunks(*parts, fail_after=True))
        assert await backend.read_bytes("kept.bin") == b"original"
        assert await _paths(backend) == ["kept.bin"]
