"""Slugs for URLs, the way Django's ``slugify(value, allow_unicode=True)`` makes them."""

from __future__ import annotations

import re
import unicodedata

_NOT_SLUG_CHARS = re.compile(r"[^\w\s-]")
_SEPARATORS = re.compile(r"[-\s]+")
# Room left for a "-<n>" suffix within the slug column.
MAX_BASE_LENGTH = 240


def slugify(value: str) -> str:
    """Lowercase words joined by hyphens, Unicode letters kept: ``"Café Menü"`` -> ``café-menü``.

    NFKC-normalizes, drops everything but word characters, spaces and hyphens, collapses
    runs of spaces and hyphens into one hyphen, and strips leading and trailing ``-``/``_``.
    May return an empty string (a title of only punctuation).
    """
    value = unicodedata.normalize("NFKC", value)
    value = _NOT_SLUG_CHARS.sub("", value.lower())
    return _SEPARATORS.sub("-", value).strip("-_")


def base_slug(title: str, fallback: str = "category") -> str:
    """The slug a title starts from: ``slugify(title)``, bounded, or ``fallback`` if empty."""
    return slugify(title)[:MAX_BASE_LENGTH].strip("-_") or fallback


def first_free(base: str, taken: set[str]) -> str:
    """``base`` if it is not taken, else ``base-2``, ``base-3``, ... whichever is free first."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
