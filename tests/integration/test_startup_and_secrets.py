"""Start-up failures are one line with the right exit code; secrets stay out of child processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logiq_core.framework.storage import Storage
from logiq_core.testing.stoat import StoatDouble, build_demo


def run_logiq(tmp_path: Path, token: str, api_url: str) -> tuple[int, str]:
    env = {
        **os.environ,
        # Retries of an unanswered call are not what these tests are about: 0.01 s apart, not 0.2 s doubling.
        "LOGIQ_REST_BACKOFF_SECONDS": "0.01",
        "LOGIQ_TOKEN": token,
        "LOGIQ_API_URL": api_url,
        "LOGIQ_DATA_DIR": str(tmp_path / "data"),
        "LOGIQ_PLUGINS_FILE": str(tmp_path / "plugins.toml"),
    }
    (tmp_path / "plugins.toml").write_text("[logiq]\nenable_unlisted = false\n")
    done = subprocess.run(
        [sys.executable, "-m", "logiq_core", "run"], env=env, capture_output=True, text=True, timeout=90
    )
    return done.returncode, done.stdout + done.stderr


async def test_a_refused_token_at_start_up_is_one_line_and_exit_3(tmp_path: Path) -> None:
    async with StoatDouble() as double:
        build_demo(double)
        token = "T" * 64
        code, output = await asyncio.to_thread(run_logiq, tmp_path, token, double.api_url)
    assert code == 3, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "check LOGIQ_TOKEN" in errors[0], output
    assert token not in output
    assert not (tmp_path / "data" / "db").exists()  # refused before any database was started


async def test_an_unreachable_api_at_start_up_is_one_line_and_exit_2(tmp_path: Path) -> None:
    token = "U" * 64
    code, output = await asyncio.to_thread(run_logiq, tmp_path, token, "http://127.0.0.1:9")
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "check LOGIQ_API_URL" in errors[0], output
    assert token not in output


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
async def test_the_embedded_database_process_never_sees_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGIQ_TOKEN", "secret-bot-token-" + "x" * 40)
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "another-secret-value")
    storage = Storage(None, tmp_path)
    await storage.start([])
    try:
        assert storage.embedded is not None and storage.embedded.pid is not None
        environ_file = Path(f"/proc/{storage.embedded.pid}/environ")
        environ = await asyncio.to_thread(environ_file.read_bytes)
    finally:
        await storage.stop()
    assert b"secret-bot-token" not in environ and b"LOGIQ_TOKEN" not in environ
    assert b"another-secret-value" not in environ
    assert b"PATH=" in environ
