"""Rasa custom actions (served by `rasa run actions`).

answer.py     policy answers built from knowledge/ (answer_sources, follow-ups, choices)
help_form.py  the help-request form: questions, validation, submit → tickets/
status.py     ticket status and notes added to an open ticket
voice.py      voice on / off

An action sees the tracker's slots and state whole, but only the events of the last ten
user turns (rasa_addons/server.py keeps requests small): keep in slots what an action
must remember for longer.
"""

from common.config import settings_or_exit

settings_or_exit()  # the action server checks the configuration when it starts
