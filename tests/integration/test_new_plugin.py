"""``logiq new-plugin`` writes a distribution that pip installs and whose tests pass at once.

The generated project sets no pytest-asyncio options, so this also proves Logiq's pytest plugin
works in an author's project in pytest-asyncio's default (strict) mode.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest


def run(*argv: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def logiq(*argv: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "logiq_core", *argv)


@pytest.mark.slow  # a fresh environment, an install and a pytest run of its own
@pytest.mark.timeout(1500)  # each step may take minutes on a cold machine
def test_new_plugin_installs_and_its_tests_pass_in_a_fresh_project(tmp_path: Path) -> None:
    made = logiq("new-plugin", "dice_roller", "--dir", str(tmp_path), "--description", "Roll dice")
    assert made.returncode == 0, made.stderr
    root = tmp_path / "logiq-dice-roller"
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} >= {
        "pyproject.toml",
        "README.md",
        "logiq_dice_roller/__init__.py",
        "tests/test_dice_roller.py",
    }
    assert "asyncio_mode" not in (root / "pyproject.toml").read_text()
    # Build offline when the build backend is already here; otherwise pip fetches it, as for an author.
    offline = all(importlib.util.find_spec(name) for name in ("hatchling", "editables"))
    isolation = ["--no-build-isolation"] if offline else []
    python = author_environment(tmp_path / "venv")
    installed = run(str(python), "-m", "pip", "install", "--quiet", "--no-deps", *isolation, "-e", str(root))
    assert installed.returncode == 0, installed.stderr
    tests = run(str(python), "-m", "pytest", "-q", "-p", "no:randomly", cwd=root)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout


def author_environment(venv: Path) -> Path:
    """A throwaway environment that sees this one's packages (logiq, pytest) through a .pth file,
    so the generated plugin is installed there and never into the environment other tests run in
    (with pytest-xdist they run at the same time and discover plugins by their entry points)."""
    assert run(sys.executable, "-m", "venv", "--without-pip", str(venv)).returncode == 0
    python = venv / "bin" / "python"
    purelib = run(
        str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    ).stdout.strip()
    ours = [entry for entry in sys.path if entry.endswith("site-packages")]
    (Path(purelib) / "logiq-test-environment.pth").write_text("\n".join(ours) + "\n")
    return python


def test_new_plugin_refuses_bad_names_and_existing_directories(tmp_path: Path) -> None:
    # In this process (the real command's start is covered above): only the answers matter here.
    from typer.testing import CliRunner

    from logiq_core.cli import app

    def new_plugin(*argv: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["new-plugin", *argv])
        return result.exit_code, result.stderr

    code, error = new_plugin("Dice!", "--dir", str(tmp_path))
    assert code == 1 and "use 2-32 characters of a-z, 0-9 and _" in error
    code, error = new_plugin("help", "--dir", str(tmp_path))
    assert code == 1 and "'help' is a core command" in error
    assert new_plugin("dice", "--dir", str(tmp_path))[0] == 0
    code, error = new_plugin("dice", "--dir", str(tmp_path))
    assert code == 1 and "pass --force to overwrite" in error
    assert new_plugin("dice", "--dir", str(tmp_path), "--force", "--phase", "stable")[0] == 0
    assert "Phase.STABLE" in (tmp_path / "logiq-dice" / "logiq_dice" / "__init__.py").read_text()
    assert list(tmp_path.iterdir()) == [tmp_path / "logiq-dice"]  # the refusals wrote nothing
