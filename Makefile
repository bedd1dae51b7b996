# The two commands of the README: `make run` (set up, train if needed, start, chat) and
# `make test` (set up and run every test). Everything else is here for convenience.
.PHONY: setup run serve chat train test bench lint

setup:
	@bash scripts/setup.sh

run: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m launcher run

serve: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m launcher serve

chat:
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m launcher chat

train: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m launcher train

test:
	@bash scripts/test.sh

bench: setup
	@PYTHONPATH=$(CURDIR) .venv/bin/python -m bench

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
