"""Server URLs as memagent shows and stores them: never with credentials, host aliases unified.

A key can ride in a URL's userinfo (`http://user:KEY@host/v1`) or in a query parameter named like
a key (`?api_key=K`). `strip_credentials` is the one place that removes them from a URL; everything
memagent prints, logs or writes to a trace or report goes through it (directly, or via
`redact_urls` for free text such as a command line). `redact` is what every error and warning
passes through: URLs as above, userinfo without a scheme, HTTP header values (`Bearer ...`), and
each secret registered with `add_secret` (the command's --api-key, a URL's password).
`check_server_url` refuses a server URL memagent cannot use before any request is sent.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from memagent.errors import InputError

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


# a query parameter whose name says it carries a credential (api_key, token, sig, X-Amz-...)
_SECRET_NAME = re.compile(
    r"key|token|secret|passw|pwd|auth|sig|credential|session|bearer|cookie|jwt|sas", re.I
)
HIDDEN = "***"


def _hide_query(query: str) -> str:
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_SECRET_NAME.search(name) for name, _ in pairs):
        return query
    return urlencode(
        [(n, HIDDEN if _SECRET_NAME.search(n) else v) for n, v in pairs], safe="*"
    )


def strip_credentials(url: str) -> str:
    """The URL without its userinfo (`user:password@`) and with the values of query parameters
    named like credentials (`api_key`, `token`, ...) hidden; anything else is left as it was."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", "//", url)
    netloc = parts.netloc.rpartition("@")[2]
    query = _hide_query(parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `strip_credentials`."""
    return _URL.sub(lambda m: strip_credentials(m.group()), text)


# what a message may quote of a secret besides a URL: userinfo without a scheme (`user:K@host`),
# an Authorization header's value, httpx's "Illegal header value b'...'"
_USERINFO = re.compile(r"(?<![\w.%~+-])[\w.%~+-]+:[^\s@/'\"]*@(?=[\w\[])")
_HEADER_VALUE = re.compile(  # a credential, not prose: it holds a digit, capital or symbol
    r"\b((?i:bearer)|Basic)\s+(?=[^\s'\",;)]*[A-Z0-9_\-.~+/=])[^\s'\",;)]{6,}"
    r"|(header value )b?(['\"]).*?\3"
)
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """Register a secret (an API key, a URL's password) that `redact` hides wherever it appears,
    also as its escaped form (a key with a newline shows as `\\n` in a repr) and line by line."""
    if not value or len(value) < 3:
        return
    forms = {value, value.encode("unicode_escape").decode("ascii"), repr(value)[1:-1]}
    forms |= {part for part in re.split(r"[\x00-\x20\x7f]+", value) if len(part) >= 4}
    _secrets.update(forms)


def url_secrets(url: str | None) -> None:
    """Register the password and credential-named query values a URL carries (`add_secret`)."""
    if not url:
        return
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        add_secret(parts.password)
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if _SECRET_NAME.search(name):
                add_secret(value)
    except ValueError:
        userinfo = url.rpartition("@")[0].rpartition("//")[2]
        add_secret(userinfo.partition(":")[2])


def redact(text: str) -> str:
    """A message as memagent may show it: URLs through `strip_credentials`, userinfo without a
    scheme dropped, header values and every registered secret (`add_secret`) hidden."""
    text = redact_urls(str(text))
    text = _USERINFO.sub("", text)
    text = _HEADER_VALUE.sub(
        lambda m: f"{m.group(1)} {HIDDEN}" if m.group(1) else f"{m.group(2)}{HIDDEN}", text
    )
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def check_server_url(url: str) -> str:
    """`url` stripped of whitespace, if memagent can send requests to it: http(s), a host, a port
    in 1-65535, no query or fragment (a key belongs in --api-key, not the URL). Raises InputError
    naming the problem; the message never quotes the URL's credentials or query."""
    url = url.strip()
    shown = strip_credentials(url)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
    except ValueError:
        raise InputError(f"base_url {shown!r} is not a valid URL") from None
    if scheme not in ("http", "https") or not url[len(scheme) + 1 :].startswith("//"):
        shown = _USERINFO.sub("", shown)
        raise InputError(
            f"base_url must start with http:// or https://, got {shown!r} "
            "(e.g. http://127.0.0.1:8000/v1)"
        )
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        port_text = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise InputError(
            f"base_url {shown!r} has port {port_text!r}: a port is a number from 1 to 65535"
        ) from None
    if not host:
        raise InputError(f"base_url {shown!r} names no host (e.g. http://127.0.0.1:8000/v1)")
    if port == 0:
        raise InputError(f"base_url {shown!r} has port 0: a port is a number from 1 to 65535")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query="",
                                         fragment=""))
        raise InputError(
            f"base_url {bare!r} carries a query or fragment ('?...' or '#...'), which memagent "
            "does not send: give the server's root URL, and a key with --api-key"
        )
    return url


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


__all__ = [
    "add_secret",
    "canonical_url",
    "canonical_urls",
    "check_server_url",
    "redact",
    "redact_urls",
    "strip_credentials",
    "url_secrets",
]
