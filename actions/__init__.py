"""Rasa custom actions (served by `rasa run actions`).

answer.py     policy answers built from knowledge/ (answer_sources, follow-ups, choices)
help_form.py  the help-request form: questions, validation, submit → tickets/
status.py     ticket status and notes added to an open ticket
voice.py      voice on / off
"""
