"""What of a channel's URL may be shown, and scrubbing its secrets out of text.

Channel secrets are write-only: the API, the UI, the delivery log, the audit trail and the
logs show a channel's URL masked, for every role:

* a Slack incoming-webhook URL is itself the credential (whoever holds it may post), so only
  its host, the kind of hook and the first letter of the next part are shown:
  ``https://hooks.slack.com/services/T…/…``;
* any URL's password is replaced (``https://ops:…@hooks.example.com/assay``), and user
  information without a password, which is then usually a token, is replaced whole
  (``https://…@hooks.example.com/``);
* query values and a fragment are replaced (``?token=…``): they commonly carry tokens.

Webhook signing secrets and the SMTP password are never shown at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["MASK", "is_masked", "masked_url", "scrub", "secrets_of_url"]

MASK = "…"
_SHORTEST_SCRUBBED = 4  # a shorter piece (a "1" in "?v=1") would mangle every message


def masked_url(kind: str, url: str | None) -> str | None:
    """``url`` as anybody may see it (the rules above); None stays None."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if kind == "slack":
        return urlunsplit(
            (parts.scheme, _masked_netloc(parts.netloc), _slack_path(parts.path), "", "")
        )
    return urlunsplit(
        (
            parts.scheme,
            _masked_netloc(parts.netloc),
            parts.path,
            _masked_query(parts.query),
            MASK if parts.fragment else "",
        )
    )


def is_masked(url: str) -> bool:
    """True when ``url`` holds the mask: it was read back, not written by a person."""
    return MASK in url


def secrets_of_url(kind: str, url: str | None) -> list[str]:
    """The pieces of ``url`` that :func:`masked_url` hides (as written and decoded)."""
    if not url:
        return []
    found = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    userinfo = parts.netloc.rpartition("@")[0]
    found.extend(userinfo.split(":"))
    for item in parts.query.split("&"):
        found.append(item.partition("=")[2] or item)
    found.append(parts.fragment)
    if kind == "slack":
        found.extend(parts.path.split("/")[2:])
        found.append(parts.path)
    pieces = {piece for text in found if text for piece in (text, unquote(text))}
    return sorted(pieces, key=len, reverse=True)


def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """``text`` with every occurrence of each of ``secrets`` replaced by the mask."""
    if not text:
        return text
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= _SHORTEST_SCRUBBED:
            text = text.replace(secret, MASK)
    return text


def _masked_netloc(netloc: str) -> str:
    userinfo, at, host = netloc.rpartition("@")
    if not at:
        return netloc
    user, colon, _password = userinfo.partition(":")
    return f"{user}:{MASK}@{host}" if colon and user else f"{MASK}@{host}"


def _slack_path(path: str) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return ""
    if len(segments) == 1:
        return "/" + MASK
    shown = [segments[0], segments[1][:1] + MASK]
    if len(segments) > 2:
        shown.append(MASK)
    return "/" + "/".join(shown)


def _masked_query(query: str) -> str:
    if not query:
        return ""
    items = []
    for item in query.split("&"):
        key, equals, _value = item.partition("=")
        items.append(f"{key}={MASK}" if equals else MASK)
    return "&".join(items)
