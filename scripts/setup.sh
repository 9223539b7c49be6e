#!/usr/bin/env bash
# Sets up everything xaigrader needs on a fresh Debian machine: system packages
# (when run as root) and a virtual environment in .venv with the package and its
# test extra installed in editable mode. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed; set PYTHON to one" >&2
  exit 1
fi

# bubblewrap confines student notebooks; without it grading falls back to a weaker sandbox.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends bubblewrap; }
  else
    echo "setup: bubblewrap is missing (sudo apt-get install bubblewrap); grading would use the weaker fallback sandbox" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.xaigrader-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
