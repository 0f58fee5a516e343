"""Entity tags and the conditional request headers of RFC 9110: If-Match, If-None-Match."""

from __future__ import annotations

import re

# One entity tag in a header list: optional weak marker, then a quoted opaque string.
_ENTITY_TAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')


def etag_for(version: int) -> str:
    """The strong entity tag of a resume at ``version`` (the counter moves on every change)."""
    return f'"v{version}"'


def _entity_tags(header: str) -> list[tuple[bool, str]]:
    """(weak, tag) for every entity tag in a comma-separated header value; junk is skipped."""
    return [(bool(match.group(1)), match.group(2)) for match in _ENTITY_TAG.finditer(header)]


def if_match_satisfied(header: str | None, current_etag: str) -> bool:
    """Whether a write may proceed: no header, ``*``, or a strong match with the current tag.

    If-Match uses the strong comparison, so a weak tag (``W/"v1"``) never matches.
    """
    if header is None:
        return True
    if header.strip() == "*":
        return True
    return any(not weak and tag == current_etag for weak, tag in _entity_tags(header))


def if_none_match_hit(header: str | None, current_etag: str) -> bool:
    """Whether a GET can answer 304: ``*`` or a weak match with the current tag."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(tag == current_etag for _weak, tag in _entity_tags(header))
