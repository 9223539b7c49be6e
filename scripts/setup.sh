#!/usr/bin/env bash
# Sets up everything xaigrader needs on a fresh Debian machine: system packages (when run as root;
# --test-tools adds Chromium for the browser tests and PostgreSQL for the server's store tests) and a virtual
# environment in .venv with the package and its test, server and cluster extras installed in editable mode, and the
# packages the assignments declare for students' kernels.
# Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: Python 3.11 or newer is needed; set PYTHON to one" >&2
  exit 1
fi

# Installs Debian packages when a command is missing (as root), or says how to.
need_command() {
  local command=$1 why=$2
  shift 2
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; }
  else
    echo "setup: $command is missing (sudo apt-get install $*); $why" >&2
  fi
}

need_command bwrap "grading would use the weaker fallback sandbox" bubblewrap
# --test-tools: the report and server tests open pages in headless Chromium through chromedriver, and the
# server's tests run their store on a PostgreSQL server they start (its binaries live off the PATH).
if [ "${1:-}" = "--test-tools" ]; then
  need_command chromium "the browser tests cannot run" chromium
  need_command chromedriver "the browser tests cannot run" chromium-driver
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
    need_command initdb "the server's PostgreSQL tests cannot run" postgresql
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.xaigrader-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # A pip configuration may list find-links folders that do not exist; a warning for each
  # would bury a real install error.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test,server,cluster]" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  touch "$stamp"
fi

# The packages students' notebooks import ([kernel] in each assignment.toml) go into the environment
# the kernel runs in, here and never while grading; again whenever an assignment.toml changes.
kernel_stamp=.venv/.xaigrader-kernel-packages
if [ ! -f "$kernel_stamp" ] || [ -n "$(find checks/assignments -name assignment.toml -newer "$kernel_stamp" -print -quit)" ]; then
  requirements=$(.venv/bin/python - <<'PYTHON'
import pathlib
import tomllib

declared = {}
for scheme in sorted(pathlib.Path("checks/assignments").glob("*/assignment.toml")):
    for requirement in tomllib.loads(scheme.read_text(encoding="utf-8")).get("kernel", {}).get("packages", []):
        declared[requirement] = None
print("\n".join(declared))
PYTHON
)
  if [ -n "$requirements" ]; then
    mapfile -t packages <<<"$requirements"
    echo "setup: installing the kernel packages the assignments declare (${#packages[@]})"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "${packages[@]}" \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  fi
  touch "$kernel_stamp"
fi
