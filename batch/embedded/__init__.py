"""The embedded server and the processes nanobatch starts and keeps: the Valkey server of a home
(``redis``), who uses it (``redis_users``) and the one process that runs it (``redis_supervisor``),
children that die with their parent (``children``), a child kept running (``keeper``), and whether
the broker and the database answer (``health``). Used by every layer; imports only ``config``,
``errors`` and each other, but for ``health``'s question to the database (``store.db.answers``).
"""
