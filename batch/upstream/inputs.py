"""Input checks that cost nothing upstream: a HEAD request to each input URL (``--check-inputs``).

What the servers say of their files (ETag, Last-Modified, length) is folded into the fingerprint,
so an image replaced at the same URL counts as new; an input that cannot be fetched fails its job
before it is submitted, unpaid.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class InputCheck:
    """What ``--check-inputs`` learned of each input URL."""

    validators: dict[str, str]  # url -> ETag|Last-Modified|length ('' when it tells nothing)
    problems: dict[str, str]    # url -> why it cannot be fetched ("answered HTTP 404", "unreachable: ...")


def check_input_urls(http: requests.Session, urls: set[str], timeout: float = 10.0) -> InputCheck:
    """HEAD each input URL (GET, body unread, where HEAD is not allowed): its validators, or its problem.

    An answer of 400 or more, or none at all, is a problem: upstream could not fetch the image
    either, and would fail the job after it was paid for.
    """
    found: dict[str, str] = {}
    problems: dict[str, str] = {}
    for url in sorted(urls):
        try:
            response = http.head(url, timeout=timeout, allow_redirects=True)
            if response.status_code in (405, 501):  # HEAD not allowed here: ask for the body, read none of it
                with http.get(url, timeout=timeout, stream=True) as response:
                    pass
        except requests.RequestException as exc:
            found[url] = ""
            problems[url] = f"unreachable ({type(exc).__name__})"
            continue
        if response.status_code >= 400:
            problems[url] = f"answered HTTP {response.status_code}"
        headers = response.headers
        found[url] = "|".join(headers.get(h, "") for h in ("ETag", "Last-Modified", "Content-Length"))
    return InputCheck(found, problems)


def input_validators(http: requests.Session, urls: set[str], timeout: float = 10.0) -> dict[str, str]:
    """ETag, Last-Modified and length of each input URL by HEAD request ('' when it tells nothing).

    Folded into the fingerprint, they make an image replaced at the same URL count as new.
    """
    return check_input_urls(http, urls, timeout).validators
