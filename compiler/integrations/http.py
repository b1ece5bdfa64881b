"""One HTTP POST for every integration that delivers over HTTP (alert webhooks, the
Pushgateway): standard library only, a timeout, the response read within a bound, and errors
that name the host (``who``), never the URL: a webhook URL is its own credential."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

USER_AGENT = "pipespec"


class DeliveryError(Exception):
    """Something could not be delivered; the message names no secret."""


def post(url: str, data: bytes, content_type: str, who: str, timeout: float,
         error: type[DeliveryError] = DeliveryError) -> int:
    """POST ``data`` to ``url`` (http or https: the caller checked); the HTTP status. Failures
    raise ``error`` with ``who`` (the host, or what is there) and the reason, the URL masked."""
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": content_type, "User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(65536)
            return resp.status
    except urllib.error.HTTPError as e:
        raise error(f"{who} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise error(f"{who}: {type(reason).__name__}: {str(reason).replace(url, '<url>')}") from None
