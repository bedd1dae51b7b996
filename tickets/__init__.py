"""Help requests (tickets): the database, the store, the outbox. See store.py."""
