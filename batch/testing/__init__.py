"""Helpers shipped for testing nanobatch and programs built on it (like ``celery.contrib.testing``).

``cluster``: real worker and beat processes, their shared environment, a fresh PostgreSQL schema.
``fake_api``: an in-memory stand-in for the API client, scripted per call, that records every call.
``clock``: a clock a test moves by hand.
"""
