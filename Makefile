# The two commands of the README: `make run` (set up, train if needed, start, chat) and
# `make test` (set up and run every test). Everything else is here for convenience.
.PHONY: setup run serve chat train test test-fast bench lint

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

# Everything that needs no trained model and no running Rasa (well under 2 minutes).
test-fast:
	@bash scripts/test.sh --fast

bench: setup
	@.venv/bin/python -m bench

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
