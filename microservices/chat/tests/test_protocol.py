"""The protocol's pure parts: parsing client frames, composing messages, presence."""

import json

import pytest

from app.protocol import (
    ChatInput,
    Identity,
    InvalidFrame,
    Pong,
    Presence,
    compose_message,
    is_valid_room_name,
    message_frame,
    parse_client_frame,
)


def test_a_seed_frame_parses_to_a_chat_input() -> None:
    parsed = parse_client_frame(
        '{"message": "hi", "phone_number": "123", "avatar": "url"}', max_message_length=10
    )
    assert parsed == ChatInput(message="hi", phone_number="123", avatar="url")


def test_a_pong_is_recognised() -> None:
    assert parse_client_frame('{"type": "pong"}', max_message_length=10) == Pong()


def test_a_huge_frame_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidFrame) as refused:
        parse_client_frame("[" * 1_000_000, max_message_length=10)
    assert refused.value.reason == "too_long"


def test_a_verified_identity_overrides_the_claimed_phone_number() -> None:
    claimed = ChatInput(message="hi", phone_number="+1999", avatar="")
    verified = compose_message("r", Identity(user_id="u1", phone_number="+1555"), claimed)
    anonymous = compose_message("r", Identity(), claimed)
    assert (verified.phone_number, verified.user_id) == ("+1555", "u1")
    assert (anonymous.phone_number, anonymous.user_id) == ("+1999", None)


def test_an_anonymous_message_without_a_phone_number_is_signed_anonymous() -> None:
    message = compose_message("r", Identity(), ChatInput("hi", None, ""))
    assert message.phone_number == "anonymous"


def test_a_message_frame_carries_the_seed_fields_and_a_utc_timestamp() -> None:
    message = compose_message("r", Identity(), ChatInput("hi", "123", "url"))
    frame = json.loads(message_frame(message))
    assert {k: frame[k] for k in ("message", "phone_number", "avatar")} == {
        "message": "hi",
        "phone_number": "123",
        "avatar": "url",
    }
    assert frame["sent_at"].endswith("+00:00")


def test_presence_counts_every_connection_and_names_signed_in_members_once() -> None:
    presence = Presence.from_labels(["+1555", "", "+1555", "+1444", ""])
    assert presence == Presence(active_connections=5, members=("+1444", "+1555"))


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("test-room", True),
        ("a_b-9", True),
        ("x" * 64, True),
        ("", False),
        ("x" * 65, False),
        ("a b", False),
        ("a/b", False),
        ("..", False),
        ("é", False),
    ],
)
def test_room_names_are_short_and_plain(name: str, valid: bool) -> None:
    assert is_valid_room_name(name) is valid
