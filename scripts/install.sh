#!/usr/bin/env bash
# Create a virtual environment if needed and install Logiq's local distributions into it, fast:
#   ./scripts/install.sh VENV [REQUIREMENT ...]      (PYTHON picks the interpreter; default python3)
#
# Used by run.sh and test.sh. Logiq is a core plus one distribution per plugin, each built from
# this checkout with hatchling. pip's defaults make that slow: the pip a new venv gets (23.2 for
# Python 3.11) spends tens of seconds evaluating the package index's file lists, and every local
# distribution is built in an isolated environment of its own, with hatchling installed into
# each. So the venv gets a current pip and hatchling first, and every distribution is built
# right there. Measured on 2 cores, a newcomer's first install: 65 s of CPU before, about 30 s.
set -euo pipefail
VENV="$1"
shift
PYTHON="${PYTHON:-python3}"
TOOLS=("pip>=25" "hatchling>=1.24")

if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || { echo "no $PYTHON here: set PYTHON to a Python 3.11 or later" >&2; exit 1; }
  # The interpreter's own pip (22.3 or later) installs a current pip straight into a venv made
  # without one: seconds faster than venv's bundled pip, which would be replaced at once anyway.
  if ! { "$PYTHON" -m venv --without-pip "$VENV" \
    && "$PYTHON" -m pip --disable-pip-version-check --python "$VENV/bin/python" install --quiet "${TOOLS[@]}"; }; then
    echo "(installing pip into $VENV the standard way)" >&2
    "$PYTHON" -m venv "$VENV"
  fi
fi
if [ $# -gt 0 ]; then
  pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install --quiet "${TOOLS[@]}"
  "${pip[@]}" install --quiet --no-build-isolation "$@"
fi
