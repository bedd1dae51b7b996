"""Test doubles for what cannot run here: Telegram's Bot API (bot_api.py in-process,
http_api.py over HTTP) and a switchable TCP path to the real Rasa (tcp_proxy.py)."""
