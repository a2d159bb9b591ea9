#!/usr/bin/env bash
# Install Logiq's local distributions into a virtual environment, fast: ./scripts/install.sh VENV REQ...
#
# Used by run.sh and test.sh. Logiq is a core plus one distribution per plugin, each built from
# this checkout with hatchling. pip's defaults make that slow: the pip a new venv comes with
# (23.2 for Python 3.11) spends tens of seconds evaluating the package index's file lists, and
# every local distribution is built in an isolated environment of its own, with hatchling
# installed into each. So: a current pip and hatchling first, then every distribution built
# right here (measured on 2 cores: a first install 64 s -> about 30 s).
set -euo pipefail
VENV="$1"
shift
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade "pip>=25" "hatchling>=1.24"
"${pip[@]}" install --quiet --no-build-isolation "$@"
