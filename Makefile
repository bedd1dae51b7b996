# The two commands of the README: `make run` (set up, train if needed, start, chat) and
# `make test` (set up and run every test). Everything else is here for convenience.
.PHONY: setup run serve chat train test test-fast bench lint cluster cluster-test

setup:
	@bash scripts/setup.sh

run: setup
	@.venv/bin/python -m launcher run

serve: setup
	@.venv/bin/python -m launcher serve

chat:
	@.venv/bin/python -m launcher chat

train: setup
	@.venv/bin/python -m launcher train

test:
	@bash scripts/test.sh

# Everything that needs no trained model and no running Rasa, in parallel (about 1½ minutes here; README).
test-fast:
	@bash scripts/test.sh --fast

bench: setup
	@.venv/bin/python -m bench

# The production shape on this machine (README "Production"): PostgreSQL, Redis, haproxy from
# Debian, 2 Rasa replicas, 2 action servers, the bridge (with TELEGRAM_BOT_TOKEN).
cluster: setup
	@.venv/bin/python -m launcher cluster

# Starts its own cluster and runs the cluster test against it (about 10 minutes).
cluster-test: setup
	@HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false \
	  .venv/bin/python -m pytest -q -s -m cluster tests/cluster

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
