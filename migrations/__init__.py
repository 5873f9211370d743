"""Alembic migrations for nanobatch's schema (applied by ``batch.db.migrate``)."""
