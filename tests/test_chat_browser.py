"""The chat page in a real headless Chromium, through the real gateway.

Uses Debian's Chromium (``scripts/ensure-chromium`` installs it) driven by Playwright; no
browser download of Playwright's own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack import Stack
from tests.chat_clients import new_room
from tests.platform_users import PASSWORD, sign_up

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if shutil.which(candidate):
            return candidate
    pytest.fail("Chromium is not installed: run scripts/ensure-chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _open_room(browser: Browser, stack: Stack, room: str) -> Page:
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{stack.gateway_url}/chat/#{room}")
    expect(page.locator("#status")).to_have_text(f"connected to {room}")
    return page


def _say(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def test_two_pages_exchange_a_message_through_the_gateway(browser: Browser, stack: Stack) -> None:
    room = new_room()
    alice = _open_room(browser, stack, room)
    bob = _open_room(browser, stack, room)
    try:
        expect(alice.locator("#count")).to_have_text("2")
        alice.fill("#name", "alice")
        _say(alice, "hello from alice's browser")
        received = bob.locator("#messages .message").filter(has_text="hello from alice's browser")
        expect(received).to_have_count(1)
        expect(received.locator(".author")).to_have_text("alice")
        _say(bob, "and back from bob")
        expect(alice.locator("#messages")).to_contain_text("and back from bob")
    finally:
        alice.close()
        bob.close()


def test_a_page_shows_the_rooms_history(
    browser: Browser, stack: Stack, gateway: httpx.Client
) -> None:
    room = new_room()
    first = _open_room(browser, stack, room)
    _say(first, "said before you came")
    expect(first.locator("#messages")).to_contain_text("said before you came")
    first.close()
    latecomer = _open_room(browser, stack, room)
    try:
        expect(latecomer.locator("#messages")).to_contain_text("said before you came")
    finally:
        latecomer.close()


def test_signing_in_on_the_page_makes_messages_verified(
    browser: Browser, stack: Stack, gateway: httpx.Client
) -> None:
    user = sign_up(gateway)
    room = new_room()
    page = _open_room(browser, stack, room)
    watcher = _open_room(browser, stack, room)
    try:
        page.fill("#signin-phone", user.phone_number)
        page.fill("#signin-password", PASSWORD)
        page.click("#signin-form button[type=submit]")
        expect(page.locator("#me")).to_have_text(user.phone_number)
        expect(page.locator("#status")).to_have_text(f"connected to {room}")
        _say(page, "signed and verified")
        message = watcher.locator("#messages .message").filter(has_text="signed and verified")
        expect(message.locator(".author")).to_contain_text(user.phone_number)
        expect(message.locator(".verified")).to_have_count(1)
        expect(watcher.locator("#members")).to_contain_text(user.phone_number)
    finally:
        page.close()
        watcher.close()
