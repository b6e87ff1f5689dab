"""Symlinks and symlink chains in a local workspace: whatever leaves the root is refused.

Every operation follows symlinks except ``delete`` and ``move``, which act on a link itself
(like ``rm`` and ``mv``) and so never touch its target; those may succeed on an escaping link,
and so may a glob that names one (it matches nothing: escaping links are not listed).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from workspace_probes import CANARY, SiblingProbe

from agentcycle.errors import AgentcycleError, PathEscapesWorkspace
from agentcycle.testing.workspace_conformance import PATH_OPERATIONS, expect_error
from agentcycle.workspace import LocalWorkspaceBackend

# name -> (target, escapes). Relative targets are relative to the link's directory.
LINKS: dict[str, tuple[str, bool]] = {
    "out_rel": ("../outside", True),
    "out_abs": ("{tmp}/outside", True),
    "out_file": ("../outside/canary.txt", True),
    "out_parent_file": ("../canary.txt", True),
    "sibling_prefix": ("../ws-sibling", True),
    "chain1": ("chain2", True),
    "chain2": ("chain3", True),
    "chain3": ("../outside", True),
    "etc": ("/etc", True),
    "filesystem_root": ("/", True),
    "up": ("..", True),
    "dangling_out": ("../outside/not-yet.txt", True),
    "inner/deep_up": ("../../outside", True),
    "via_inner_link": ("inner/deep_up", True),
    "dotdot_target": ("inner/../../outside", True),
    "loop_a": ("loop_b", True),
    "loop_b": ("loop_a", True),
    "self_loop": ("self_loop", True),
    "ok_dir": ("inner", False),
    "ok_file": ("inner/file.txt", False),
    "ok_chain": ("ok_dir", False),
    "ok_dot": (".", False),
    "ok_dangling": ("inner/later.txt", False),
}
SUFFIXES = ("", "/canary.txt", "/new.txt", "/sub/new.txt")
# Operations that do not follow a path's last component: delete and move act on the link, and
# a glob naming a link only matches it as a listing entry (escaping links are never listed).
ENTRY_OPERATIONS = {"delete", "delete_recursive", "move_from", "move_to", "glob"}
READ_ONLY = {"read_bytes", "read_bytes_range", "read_text", "info", "exists", "list", "glob"}
CASES = [(name, suffix) for name in LINKS for suffix in SUFFIXES]


# Every case runs with both resolvers (the ``resolver`` fixture in tests/conftest.py).
pytestmark = pytest.mark.usefixtures("resolver")


def build_tree(tmp: Path) -> tuple[LocalWorkspaceBackend, SiblingProbe]:
    probe = SiblingProbe(tmp)
    root = tmp / "ws"
    (root / "inner").mkdir(parents=True)
    (root / "inner" / "file.txt").write_text("inside")
    (root / "moved-0").write_text("moved here by move_from, moved back by move_to")
    for name, (target, _) in LINKS.items():
        (root / name).symlink_to(target.format(tmp=tmp))
    return LocalWorkspaceBackend(root), probe


@pytest.mark.parametrize(("link", "suffix"), CASES, ids=[f"{n}{s}" for n, s in CASES])
async def test_symlink_paths_never_escape(tmp_path: Path, link: str, suffix: str) -> None:
    escapes = LINKS[link][1]
    path = link + suffix
    backend, probe = build_tree(tmp_path)
    before = await probe.snapshot()
    for name, operation in PATH_OPERATIONS.items():
        try:
            result = await operation(backend, path, "0")
        except PathEscapesWorkspace as error:
            assert escapes, f"{name} refused a link that stays inside"
            assert error.details["reason"] in ("symlink_escape", "symlink_loop")
            changed = False
        except AgentcycleError as error:
            assert not escapes or name in ENTRY_OPERATIONS, (name, error.code)
            changed = False
        else:
            assert not escapes or (suffix == "" and name in ENTRY_OPERATIONS), name
            assert CANARY.decode() not in str(result)
            changed = name not in READ_ONLY
        assert await probe.snapshot() == before, f"{name} changed something outside"
        if changed:  # start the next operation from the original tree
            shutil.rmtree(tmp_path)
            os.mkdir(tmp_path)
            backend, probe = build_tree(tmp_path)


async def test_escaping_reads_say_why(tmp_path: Path) -> None:
    backend, _ = build_tree(tmp_path)
    with pytest.raises(PathEscapesWorkspace, match="symlink") as caught:
        await backend.read_text("out_file")
    assert caught.value.code == "path_escapes_workspace"
    assert caught.value.details == {"path": "out_file", "reason": "symlink_escape"}
    assert str(tmp_path) not in str(caught.value)  # host paths stay out of messages
    with expect_error("path_escapes_workspace"):
        await backend.read_text("loop_a")


async def test_links_inside_the_root_work(tmp_path: Path) -> None:
    backend, _ = build_tree(tmp_path)
    assert await backend.read_text("ok_file") == "inside"
    assert await backend.read_text("ok_chain/file.txt") == "inside"
    await backend.write("ok_dangling", "created through the link")
    assert (tmp_path / "ws" / "inner" / "later.txt").read_text() == "created through the link"
    await backend.write("ok_file", "replaced")
    assert (tmp_path / "ws" / "ok_file").is_symlink()  # the link stays; its target changed
    assert (tmp_path / "ws" / "inner" / "file.txt").read_text() == "replaced"
    assert [e.path for e in await backend.list("ok_dir").collect()] == [
        "ok_dir/file.txt",
        "ok_dir/later.txt",
    ]


async def test_listing_skips_escaping_links_and_does_not_descend_links(tmp_path: Path) -> None:
    backend, _ = build_tree(tmp_path)
    listed = {e.path: e for e in await backend.list(glob="**").collect()}
    assert list(listed) == [  # ok_dangling has no target yet, the rest leave the root
        "inner",
        "inner/file.txt",
        "moved-0",
        "ok_chain",
        "ok_dir",
        "ok_dot",
        "ok_file",
    ]
    assert listed["ok_dir"].is_dir and listed["ok_dot"].is_dir
    assert listed["ok_file"].size == len("inside")
    assert [path for path, entry in listed.items() if entry.is_link] == [
        "ok_chain",
        "ok_dir",
        "ok_dot",
        "ok_file",
    ]


async def test_delete_and_move_act_on_the_link(tmp_path: Path) -> None:
    backend, probe = build_tree(tmp_path)
    before = await probe.snapshot()
    await backend.delete("out_rel")
    await backend.move("ok_file", "renamed_link")
    assert (tmp_path / "ws" / "renamed_link").is_symlink()
    assert not (tmp_path / "ws" / "out_rel").exists()
    await backend.delete("ok_dir", recursive=True)  # removes the link, not inner/
    assert (tmp_path / "ws" / "inner" / "file.txt").exists()
    assert await probe.snapshot() == before


async def test_a_symlink_swapped_in_after_resolution_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race window: resolution saw a plain file, then it became a link out of the root."""
    backend, _ = build_tree(tmp_path)
    swapped = tmp_path / "ws" / "swapped.txt"
    swapped.symlink_to(tmp_path / "outside" / "canary.txt")
    # Resolution "saw" the entry before it became a link: it hands back the entry itself.
    beneath = backend._beneath
    monkeypatch.setattr(beneath, "resolve", lambda rel, create=False: beneath.entry(rel))
    for call in (
        backend.read_bytes("swapped.txt"),
        backend.write("swapped.txt", "x", mode="append"),
    ):
        with pytest.raises(PathEscapesWorkspace) as caught:
            await call
        assert caught.value.details["reason"] == "symlink_race"
    assert (tmp_path / "outside" / "canary.txt").read_bytes() == CANARY


def test_platform_has_o_nofollow() -> None:
    assert os.O_NOFOLLOW and errno.ELOOP
