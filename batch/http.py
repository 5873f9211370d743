"""The HTTP session every worker call goes through.

``requests`` reads the proxy and CA-bundle settings from the environment on every request
(scanning ``os.environ`` several times), which costs more CPU than the rest of a small call.
The environment of a running worker does not change, so :class:`HttpSession` reads them once
per origin and then reuses the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings


class HttpSession(requests.Session):
    """A ``requests.Session`` that resolves environment settings once per origin, not per request."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], _Settings] = {}

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> _Settings:
        """Same answer as ``requests``; computed once per (origin, arguments)."""
        if not isinstance(url, str) or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}  # requests may edit its copy
