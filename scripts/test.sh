#!/usr/bin/env bash
# The test command (README, .ci/run): set up, lint, train if needed, validate the data,
# run pytest (unit + integration with the real servers, the reliability suite's short form),
# the ticket and action tests again on PostgreSQL (a throwaway Debian server on loopback,
# installed and started here), then `rasa test` on test stories.
# `--fast` (make test-fast): set up, lint, the truth check and every test that needs no
# trained model and no running Rasa; no training.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=0
[ "${1:-}" = "--fast" ] && FAST=1
bash scripts/setup.sh

PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false TQDM_DISABLE=1
step() { printf '\n==== %s\n' "$*"; }

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

step "knowledge truth check"
$PY -m knowledge.truth

if [ "$FAST" = 1 ]; then
  # In parallel (pytest-xdist): one worker more than the machine has cores, because the
  # bridge's fault tests mostly wait on real timeouts and backoff while the others compute;
  # idle workers take queued tests from busy ones (worksteal). XUNWU_TEST_WORKERS overrides.
  workers=${XUNWU_TEST_WORKERS:-$(( $(nproc) + 1 ))}
  [ "$workers" -le 8 ] || workers=8
  step "pytest (fast lane: no Rasa; $workers workers)"
  exec $PY -m pytest -q -n "$workers" --dist worksteal -m "not rasa and not cluster" tests
fi

step "train (only if the inputs changed)"
MODEL=$($PY -c 'from common.config import settings; from launcher.training import ensure_model; import sys; print(ensure_model(settings(), log=lambda m: print(m, file=sys.stderr)))')
[ -f "$MODEL" ] || { echo "training gave no model file: $MODEL" >&2; exit 2; }

step "rasa data validate"
.venv/bin/rasa data validate --config config.yml --domain domain.yml --data data

step "pytest"
XUNWU_TEST_MODEL="$MODEL" $PY -m pytest -q -m "not cluster" tests

step "pytest on PostgreSQL (tickets, actions)"
PGDIR=$(mktemp -d /tmp/xunwu-pg.XXXXXX)
trap '$PY -m launcher.infra stop "$PGDIR" >/dev/null 2>&1 || true; rm -rf "$PGDIR"' EXIT
PGPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
XUNWU_TEST_POSTGRES=$($PY -m launcher.infra postgres "$PGDIR" "$PGPORT") \
  $PY -m pytest -q -m "not rasa" tests/tickets tests/actions

step "rasa test (test stories)"
.venv/bin/rasa test core --model "$MODEL" --stories tests/stories --out results/rasa-test \
  --fail-on-prediction-errors
