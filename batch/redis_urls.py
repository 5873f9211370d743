"""One Redis location, two spellings: redis-py and kombu (Celery) each want their own."""

from __future__ import annotations


def socket_path(url: str) -> str | None:
    """The unix socket path of a ``unix://`` URL, else None."""
    for prefix in ("unix://", "redis+socket://", "redis+unix://"):
        if url.startswith(prefix):
            return url[len(prefix):].split("?", 1)[0]
    return None


def kombu_url(url: str) -> str:
    """The URL as Celery's broker/backend setting wants it."""
    path = socket_path(url)
    return f"redis+socket://{path}" if path else url
