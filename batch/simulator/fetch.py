"""Server-side download of a job's input images, like the real service does (aiohttp client).

Every problem (unreachable host, HTTP error, timeout, too large) becomes a :class:`FetchError`
with a message naming the field, which the job reports as its ``error``; nothing here crashes.
"""

from __future__ import annotations

import asyncio

import aiohttp

from batch.core.schema import MAX_INPUT_BYTES

CHUNK = 256 * 1024


class FetchError(Exception):
    """An input image could not be downloaded; the message says which one and why."""


def client_timeout(total: float) -> aiohttp.ClientTimeout:
    """The timeouts used for input downloads (connect at most 10 s, everything ``total``)."""
    return aiohttp.ClientTimeout(total=total, connect=min(10.0, total), sock_read=total)


async def fetch_one(session: aiohttp.ClientSession, index: int, url: str,
                    max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Download ``url`` (input ``index``), at most ``max_bytes``; raise :class:`FetchError`."""
    where = f"image_urls.{index} ({url})"
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise FetchError(f"{where}: HTTP {response.status} when fetching the image")
            if response.content_length is not None and response.content_length > max_bytes:
                raise FetchError(f"{where}: image larger than {max_bytes} bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchError(f"{where}: image larger than {max_bytes} bytes")
            return bytes(data)
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"{where}: timed out fetching the image") from None
    except (aiohttp.ClientError, ValueError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise FetchError(f"{where}: could not fetch the image: {reason}") from None


async def fetch_inputs(session: aiohttp.ClientSession, urls: list[str],
                       max_bytes: int = MAX_INPUT_BYTES) -> list[bytes]:
    """Download all ``urls`` concurrently; the first failure (by index) raises :class:`FetchError`."""
    results = await asyncio.gather(
        *(fetch_one(session, i, url, max_bytes) for i, url in enumerate(urls)), return_exceptions=True
    )
    images: list[bytes] = []
    for result in results:
        if isinstance(result, FetchError | asyncio.CancelledError):
            raise result
        if isinstance(result, BaseException):
            raise FetchError(f"could not fetch an input image: {result!r}")
        images.append(result)
    return images
