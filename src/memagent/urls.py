"""Server URLs as memagent shows and stores them: never with credentials, host aliases unified.

A key can ride in a URL's userinfo (`http://user:KEY@host/v1`). `strip_credentials` is the one
place that removes it; everything memagent prints, logs or writes to a trace or report goes
through it (directly or via `redact_urls` for free text such as a command line).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
_LOOPBACK = {"localhost", "::1", "0.0.0.0", "localhost.localdomain", "ip6-localhost"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _netloc_parts(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, or None when it does not parse as one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def strip_credentials(url: str) -> str:
    """The URL without its userinfo (`user:password@`); anything else is left as it was."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", "//", url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `strip_credentials`."""
    return _URL.sub(lambda m: strip_credentials(m.group()), text)


def canonical_url(url: str) -> str:
    """A URL for comparison: no credentials, lower-case scheme and host, the default port
    dropped, loopback aliases (localhost, 127.x.x.x, ::1) as 'localhost', no trailing slash."""
    parsed = _netloc_parts(url)
    clean = strip_credentials(url)
    if parsed is None:
        return clean
    scheme, host, port = parsed
    if host in _LOOPBACK or host.startswith("127."):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    parts = urlsplit(clean)
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, parts.fragment))


def canonical_urls(text: str) -> str:
    """`text` with every URL in it replaced by its `canonical_url` (e.g. a backend's name)."""
    return _URL.sub(lambda m: canonical_url(m.group()), text)


__all__ = ["canonical_url", "canonical_urls", "redact_urls", "strip_credentials"]
