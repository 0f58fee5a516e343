"""Phone numbers as the platform stores them: an optional leading ``+`` and 7-15 digits."""

from __future__ import annotations

import re

# Separators people type between digit groups; they carry no meaning and are dropped.
_SEPARATORS = re.compile(r"[\s().\-/]")
_NORMALISED = re.compile(r"^\+?[0-9]{7,15}$")
# Longer input is not a phone number, whatever it contains.
MAX_INPUT_LENGTH = 32


def normalise_phone(text: str) -> str:
    """``"+1 (555) 010-9999"`` -> ``"+15550109999"``; ValueError if it is not a phone number."""
    if len(text) > MAX_INPUT_LENGTH:
        raise ValueError("phone number is too long")
    compact = _SEPARATORS.sub("", text)
    if not _NORMALISED.match(compact):
        raise ValueError("phone number must be 7 to 15 digits, optionally after a leading +")
    return compact
