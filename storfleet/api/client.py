"""A small HTTP client of storfleet's API (httpx): what the CLI and the benchmark use.

Failures become one exception, :class:`ClientError`, whose message is one line an
operator can act on: the server's Delfin error (code and message), or why the server
could not be reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8190"


class ClientError(Exception):
    """An API call failed; ``str()`` is the one line to show."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        self.status = status
        self.code = code
        super().__init__(message)


class Client:
    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 120.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(f"{self.url} did not answer {method} {path} in time") from None
        except httpx.TransportError as exc:
            raise ClientError(
                f"cannot reach storfleet at {self.url} ({exc}); is `storfleet serve` running?"
                " (--url / STORFLEET_URL)"
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None) -> Any:
        response = self.request("POST", path, json=body)
        return response.json() if response.content else None

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body).json()

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def pages(
        self, path: str, collection: str, limit: int = 1000, **params: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page (markers)."""
        marker = None
        while True:
            query = {k: v for k, v in params.items() if v is not None}
            query.update(limit=limit, marker=marker)
            response = self.request("GET", path, params={k: v for k, v in query.items() if v})
            items = response.json()[collection]
            yield from items
            marker = response.headers.get("X-Next-Marker")
            if not marker or len(items) < limit:
                return


def _error(response: httpx.Response) -> ClientError:
    try:
        body = response.json()
        code, message = body["error_code"], body["error_msg"]
    except (ValueError, KeyError, TypeError):
        return ClientError(f"HTTP {response.status_code} from {response.url}", response.status_code)
    hint = ""
    if response.status_code == 401:
        hint = " (give --token / STORFLEET_TOKEN, or --data-dir with the server's admin-token)"
    return ClientError(
        f"{response.status_code} {code}: {message}{hint}", response.status_code, code
    )
