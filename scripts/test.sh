#!/usr/bin/env bash
# The whole test suite from a fresh clone: set-up, lint, type check, tests.
# Usage: ./scripts/test.sh [extra pytest arguments]
#
# Tests get their own environment, .venv-test/ (LOGIQ_TEST_VENV picks another): the sample
# plugins the tests install never reach .venv/, the one ./scripts/run.sh uses. Tests run in
# parallel (pytest-xdist; LOGIQ_TEST_WORKERS sets how many, default one per CPU and one more),
# and the slowest tests are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LOGIQ_TEST_VENV:-.venv-test}"
# One worker more than CPUs: tests spend part of their time waiting (on the processes they start,
# their worker's storage server, a timer), and a third worker on 2 CPUs fills those waits. Measured
# on 2 CPUs: 2 workers 85-86 s (2 runs), 3 workers 69-81 s (5 runs), 4 workers 81 s.
CPUS="$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
WORKERS="${LOGIQ_TEST_WORKERS:-$((CPUS + 1))}"
STAMP="$VENV/.logiq-test-stamp"

project_stamp() {
  {
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    find pyproject.toml logiq_core plugins examples tests/sample_plugins pytest-logiq -type f \
      \( -name '*.py' -o -name '*.toml' -o -name '*.json' -o -name '*.md' -o -name '*.html' -o -name 'py.typed' \) \
      -not -path '*/__pycache__/*' -not -path 'plugins/*/tests/*' -not -path 'examples/*/tests/*' -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
}

[ -x "$VENV/bin/python" ] || ./scripts/install.sh "$VENV"
wanted="$(project_stamp)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
  rm -f "$STAMP"
  # The core with every plugin and the test tools, plus the sample third-party plugins that the
  # tests discover through their entry points, exactly as a user's plugins would be found, and
  # the examples written the way docs/plugins.md teaches.
  # editables: with hatchling, which install.sh puts in the venv, test_new_plugin's editable
  # install of a generated plugin builds right there instead of fetching a build environment.
  ./scripts/install.sh "$VENV" ".[all,test]" ./tests/sample_plugins ./examples/coinflip "editables>=0.5"
  echo "$wanted" > "$STAMP"
fi

echo "== ruff"
"$VENV/bin/ruff" check logiq_core plugins examples scripts benchmarks tests conftest.py
"$VENV/bin/ruff" format --check logiq_core plugins examples scripts benchmarks tests conftest.py
echo "== mypy"
"$VENV/bin/mypy" logiq_core  # strict for the core (pyproject.toml)
"$VENV/bin/mypy" plugins/*/logiq_* examples/*/logiq_*
echo "== pytest"
# --dist worksteal: tests are split between the workers, and a worker that runs out takes tests
# from another's queue, so none waits idle at the end (12 s less than whole files per worker,
# measured back to back). Each test has its own data directory, its own database on its worker's
# one embedded storage server, and loopback ports: no two tests share state. The last line is
# the suite's time: wall clock, and the test durations summed (the figure to compare between
# runs on a machine shared with other jobs).
#
# Plugins are named, not auto-loaded: pytest rewrites the asserts of every module of every
# installed distribution that registers a plugin, so auto-loading made each worker rewrite and
# compile all of Hypothesis, xdist and pytest-asyncio before its first test (2 s of CPU per
# worker, on a fresh venv or wherever Python's bytecode cache is off). Named plugins are
# rewritten alone. Another plugin can be added with `-p MODULE`.
PLUGINS=(
  --disable-plugin-autoload
  -p xdist.plugin
  -p pytest_asyncio.plugin
  -p pytest_timeout
  -p logiq_core.testing.pytest_plugin
  -p _hypothesis_pytestplugin
)
"$VENV/bin/python" -m pytest "${PLUGINS[@]}" -n "$WORKERS" --dist worksteal --durations=15 "$@"
