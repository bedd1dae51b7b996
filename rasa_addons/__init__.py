"""What this project adds to Rasa itself, loaded inside the Rasa server process.

tracker_store.py  the SQL tracker store in SQLite WAL mode, recent trackers kept in memory,
                  its database path taken from the configuration (endpoints.yml names it)
server.py         `python -m rasa_addons.server run …`: `rasa run` with two measured fixes

The knowledge importer and the NLU component (knowledge/importer.py, knowledge/nlu.py)
are Rasa add-ons too and are listed in config.yml.
"""
