"""The HTTP session every worker call goes through.

``requests`` reads the proxy and CA-bundle settings from the environment on every request
(scanning ``os.environ`` several times), which costs more CPU than the rest of a small call.
The environment of a running worker does not change, so :class:`HttpSession` reads them once
per origin and then reuses the answer. :func:`send` skips the rest of ``Session.request``'s
per-call merging (cookies, session headers, hooks), which nanobatch's calls do not use.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

USER_AGENT = "nanobatch"
# what HTTP cannot carry in a header value: control characters (tab aside), DEL, beyond Latin-1
_BAD_HEADER_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]")
_BAD_HEADER_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

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


def header_value_ok(value: str | bytes) -> bool:
    """True if ``value`` can be sent as an HTTP header value: Latin-1, no control character but tab."""
    if isinstance(value, bytes):
        return _BAD_HEADER_BYTE.search(value) is None
    return _BAD_HEADER_CHAR.search(value) is None


def send(http: requests.Session, method: str, url: str, *, headers: dict[str, str], timeout: float,
         json: Any = None, params: dict[str, str] | None = None, stream: bool = False,
         allow_redirects: bool = True) -> requests.Response:
    """One request on ``http`` (its adapters and connection pool), prepared without the session's merging.

    ``allow_redirects=False`` hands a redirect back to the caller (who checks where it leads).
    Raises what ``requests`` raises; the caller translates it. A header value that HTTP cannot
    carry (outside Latin-1, or with a line break) is refused here as ``InvalidHeader``, before
    ``http.client`` would fail on it with a message quoting the value.
    """
    request = requests.Request(method, url, headers=headers, json=json, params=params).prepare()
    for name, value in request.headers.items():
        if not header_value_ok(value):
            raise requests.exceptions.InvalidHeader(f"header {name} has a value HTTP cannot carry")
    environment = http.merge_environment_settings(url, {}, stream, None, None)
    return http.send(request, timeout=timeout, allow_redirects=allow_redirects, **environment)
