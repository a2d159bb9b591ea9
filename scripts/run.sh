#!/usr/bin/env bash
# Install Logiq with every plugin and run it. Without LOGIQ_TOKEN this starts the local
# sandbox (a simulated Stoat server and a terminal chat); with it, the bot connects to Stoat.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LOGIQ_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet ".[all]"
exec "$VENV/bin/logiq" run "$@"
