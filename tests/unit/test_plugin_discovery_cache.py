"""Installed plugins are read from the distributions' metadata once, and again when a folder on
the import path changes: a plugin installed (or removed) while the process runs is seen by the
next bot started in it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from logiq_core.framework import plugins
from logiq_core.framework.plugins import PluginManager, installed_entry_points
from logiq_core.framework.policy import Policy


def install(site: Path, distribution: str, plugin: str) -> None:
    """What pip leaves in site-packages for a distribution declaring one Logiq plugin."""
    info = site / f"{distribution.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[logiq.plugins]\n{plugin} = {plugin}_module\n")


def settle(site: Path) -> None:
    """Date the folder's last change a minute back, as for anything installed a while ago
    (each time a different time, as real changes have: importlib.metadata caches by it too)."""
    a_minute_ago = os.stat(site).st_mtime - 60
    os.utime(site, (a_minute_ago, a_minute_ago))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An import path of one site-packages folder, and no entry points read yet."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", [str(folder)])
    plugins.installed.forget()
    yield folder
    plugins.installed.forget()  # nothing of this fake import path outlives the test


def names() -> list[str]:
    return sorted(ep.name for ep in installed_entry_points())


def test_entry_points_are_read_once_while_nothing_changes(site: Path) -> None:
    install(site, "logiq-first", "first")
    settle(site)
    found = installed_entry_points()
    assert [ep.name for ep in found] == ["first"]
    assert installed_entry_points() is found  # kept, not read again
    records = {record.name: record for record in PluginManager(Policy()).discover()}
    assert (records["first"].distribution, records["first"].version) == ("logiq-first", "1.2.3")


def test_a_plugin_installed_or_removed_later_is_seen_by_the_next_discovery(site: Path) -> None:
    install(site, "logiq-first", "first")
    settle(site)
    assert names() == ["first"]
    install(site, "logiq-later", "later")
    assert names() == ["first", "later"]
    assert "later" in {record.name for record in PluginManager(Policy()).discover()}
    settle(site)
    assert names() == ["first", "later"]
    for written in ("entry_points.txt", "METADATA"):
        (site / "logiq_later-1.2.3.dist-info" / written).unlink()
    (site / "logiq_later-1.2.3.dist-info").rmdir()
    assert names() == ["first"]


def test_a_reading_just_after_a_change_is_not_kept(site: Path) -> None:
    """A change within the same tick of the file system's clock leaves the folder's time as it
    was: an answer read while the folder's last change is that recent is read again."""
    install(site, "logiq-first", "first")  # changed just now
    found = installed_entry_points()
    assert installed_entry_points() is not found
    settle(site)
    again = installed_entry_points()
    assert installed_entry_points() is again
