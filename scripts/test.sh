#!/usr/bin/env bash
# The whole test suite from a fresh clone: set-up, lint, type check, tests.
# Usage: ./scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LOGIQ_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# The core with every plugin and the test tools, plus the sample third-party plugins that the
# tests discover through their entry points, exactly as a user's plugins would be found, and
# the examples written the way docs/plugins.md teaches.
"$VENV/bin/python" -m pip install --quiet ".[all,test]" ./tests/sample_plugins ./examples/coinflip

echo "== ruff"
"$VENV/bin/ruff" check logiq_core plugins examples scripts benchmarks tests
echo "== mypy"
"$VENV/bin/mypy" logiq_core
echo "== pytest"
"$VENV/bin/python" -m pytest "$@"
