"""Signed deliveries: a valid signature passes; anything tampered, stale or absent does not."""

import pytest

from servicekit.signing import InvalidSignature, sign_payload, verify_signature

SECRET = "whsec_test"
BODY = b'{"id": "evt_1"}'


def test_a_signature_verifies_against_the_same_body_and_secret() -> None:
    header = sign_payload(SECRET, BODY, timestamp=1_700_000_000)
    assert verify_signature(SECRET, BODY, header, now=1_700_000_010) == 1_700_000_000


@pytest.mark.parametrize(("secret", "body"), [("other-secret", BODY), (SECRET, b'{"id": "evt_2"}')])
def test_a_different_secret_or_body_is_refused(secret: str, body: bytes) -> None:
    header = sign_payload(SECRET, BODY, timestamp=1_700_000_000)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(secret, body, header, now=1_700_000_000)


def test_an_old_signature_is_refused_as_a_replay() -> None:
    header = sign_payload(SECRET, BODY, timestamp=1_700_000_000)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(SECRET, BODY, header, now=1_700_000_000 + 301)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=123", "t=abc,v1=00", "garbage"])
def test_missing_or_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, BODY, header, now=123)


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    old = sign_payload("old-secret", BODY, timestamp=1_700_000_000)
    new = sign_payload(SECRET, BODY, timestamp=1_700_000_000)
    header = f"{old},v1={new.split('v1=')[1]}"
    assert verify_signature(SECRET, BODY, header, now=1_700_000_000)
