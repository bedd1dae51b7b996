"""Starts everything: training when needed, the Rasa server, the action server, the
Telegram bridge (with a token) and the terminal chat. `python -m launcher --help`."""
