#!/usr/bin/env bash
# Install Logiq with every plugin and run it. Without LOGIQ_TOKEN this starts the local
# sandbox (a simulated Stoat server and a terminal chat); with it, the bot connects to Stoat.
#
# The first start creates .venv/ and installs into it; later starts skip pip entirely unless
# the project's files changed since (a stamp in the venv records what was installed), so they
# reach the prompt in about a second. LOGIQ_VENV picks another environment, PYTHON another
# interpreter for creating it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LOGIQ_VENV:-.venv}"
STAMP="$VENV/.logiq-run-stamp"

# What is installed depends on the interpreter, every pyproject.toml and the packaged sources.
project_stamp() {
  {
    # the interpreter, without starting it (a tenth of a second): the venv's record of it, and
    # the size and time of the binary it runs (an interpreter upgraded in place changes them)
    cat "$VENV/pyvenv.cfg"
    stat -L -c '%s %Y' "$VENV/bin/python"
    find pyproject.toml logiq_core plugins -type f \
      \( -name '*.py' -o -name '*.toml' -o -name '*.json' -o -name '*.md' -o -name '*.html' -o -name 'py.typed' \) \
      -not -path '*/__pycache__/*' -not -path 'plugins/*/tests/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "First start: creating $VENV and installing Logiq with every plugin (under a minute)..." >&2
  ./scripts/install.sh "$VENV"
fi
wanted="$(project_stamp)"
if [ ! -x "$VENV/bin/logiq" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing Logiq and its plugins into $VENV..." >&2
  rm -f "$STAMP"
  ./scripts/install.sh "$VENV" ".[all]"
  echo "$wanted" > "$STAMP"
fi
exec "$VENV/bin/logiq" run "$@"
