"""One Redis location, three spellings: redis-py, kombu (Celery) and ``limits`` each want their own."""

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


def limits_url(url: str) -> str:
    """The URL as ``limits.storage.RedisStorage`` wants it."""
    path = socket_path(url)
    return f"redis+unix://{path}" if path else url
