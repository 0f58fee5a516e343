"""Money under load: transfers between two accounts, and payments with fresh idempotency keys."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import httpx

from bench.context import Context
from bench.platform import expect, json_of, run_token
from bench.results import ScenarioResult, ScenarioUnavailable
from tests.platform_users import SignedInUser

TOP_UP = "1000.00"
TRANSFER = Decimal("0.01")
FUNDING_TIMEOUT = 30.0
SETTLE_TIMEOUT = 60.0
LEDGER_TIMEOUT = 120.0
DELIVERY_TIMEOUT = 180.0
_BACKLOG = re.compile(r"^payments_outbox_backlog (\S+)$", re.MULTILINE)


def balance(ctx: Context, user: SignedInUser) -> Decimal:
    """The user's account balance as the owner sees it."""
    with ctx.platform.client() as client:
        account = json_of(
            client.get(f"/accounts/accounts/user/{user.user_id}", headers=user.headers), 200
        )
    return expect(lambda: Decimal(str(account["balance"])), "reading a balance")


def pay(ctx: Context, user: SignedInUser, amount: str, key: str) -> dict[str, object]:
    """Create one payment with ``pm_card_visa`` (a top-up that succeeds)."""
    body = {
        "amount": amount,
        "currency": "USD",
        "description": "bench",
        "payment_method": "pm_card_visa",
    }
    with ctx.platform.client() as client:
        response = client.post(
            "/payments/payments", json=body, headers={**user.headers, "Idempotency-Key": key}
        )
    return json_of(response, 201, 202)


def funded_user(ctx: Context, name: str) -> SignedInUser:
    """A user whose account was topped up through payments (succeeded -> credited event)."""
    user = ctx.platform.user(name)
    pay(ctx, user, TOP_UP, f"bench-top-up-{run_token()}")
    deadline = time.monotonic() + FUNDING_TIMEOUT
    while time.monotonic() < deadline:
        if balance(ctx, user) >= Decimal(TOP_UP):
            return user
        time.sleep(0.1)
    raise ScenarioUnavailable(
        f"a top-up was not credited to {name}'s account within {FUNDING_TIMEOUT:.0f}s"
    )


def write_path(ctx: Context, result: ScenarioResult) -> None:
    """Transfers back and forth between two funded accounts; the ledger must add up after."""
    a, b = funded_user(ctx, "payer-a"), funded_user(ctx, "payer-b")
    url = f"{ctx.platform.stack.gateway_url}/accounts/transactions"
    arguments = (a.account_id, a.access_token, b.account_id, b.access_token, str(TRANSFER))
    if ctx.profile.warmup_seconds > 0:
        ctx.http_load(url, script="transfers", script_args=arguments, warm_up=False)
    before_a, before_b = settled_balances(ctx, a, b)
    start_ab, start_ba = ledger_transfers(ctx, a, b.account_id)
    run = ctx.http_load(
        url,
        connections=ctx.profile.write_connections,
        script="transfers",
        script_args=arguments,
        warm_up=False,
    )
    after_a, after_b = settled_balances(ctx, a, b)
    counts = run.counters
    succeeded = counts.get("a_to_b", 0) + counts.get("b_to_a", 0)
    # wrk stops with up to one request per connection in flight: the service may complete
    # those after wrk stopped counting, so the ledger is the reference, and the answers
    # wrk saw must all be in it.
    end_ab, end_ba = ledger_transfers(ctx, a, b.account_id)
    ledger_ab, ledger_ba = end_ab - start_ab, end_ba - start_ba
    in_flight = (ledger_ab - counts.get("a_to_b", 0)) + (ledger_ba - counts.get("b_to_a", 0))
    invariant = (
        after_a + after_b == before_a + before_b
        and min(after_a, after_b) >= 0
        and after_a == before_a - TRANSFER * ledger_ab + TRANSFER * ledger_ba
        and 0 <= in_flight <= ctx.profile.write_connections
        and counts.get("other_status", 0) == 0
    )
    measurement = result.measure(
        run.measurement("ours: transfers via gateway", value=succeeded / run.seconds)
    )
    measurement.unit = "transfers/s"
    result.target("successful transfers/s", measurement.value, 1000, unit="/s")
    result.target(
        f"p99 at {ctx.profile.write_connections} connections",
        run.p99_ms,
        50,
        at_least=False,
        unit="ms",
    )
    result.target("invariant holds (1 = yes)", 1.0 if invariant else 0.0, 1.0)
    result.notes.append(
        f"balances before {before_a}+{before_b}, after {after_a}+{after_b}; answers {counts}; "
        f"in A's ledger: {ledger_ab} A->B, {ledger_ba} B->A; socket errors {run.errors}"
    )


def settled_balances(ctx: Context, a: SignedInUser, b: SignedInUser) -> tuple[Decimal, Decimal]:
    """Both balances once two reads in a row agree (requests cut off by wrk may still land)."""
    previous = (balance(ctx, a), balance(ctx, b))
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.3)
        current = (balance(ctx, a), balance(ctx, b))
        if current == previous:
            return current
        previous = current
    raise ScenarioUnavailable(f"balances still moving {SETTLE_TIMEOUT:.0f}s after the load")


def ledger_transfers(ctx: Context, owner: SignedInUser, other_account: str) -> tuple[int, int]:
    """Successful bench transfers in the owner's history: (owner -> other, other -> owner)."""
    outgoing = incoming = 0
    cursor: str | None = None
    deadline = time.monotonic() + LEDGER_TIMEOUT
    with ctx.platform.client() as client:
        while time.monotonic() < deadline:
            params: dict[str, str | int] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = json_of(
                client.get(
                    f"/accounts/accounts/{owner.account_id}/transactions",
                    params=params,
                    headers=owner.headers,
                ),
                200,
            )
            items = page.get("items")
            if not isinstance(items, list):
                raise ScenarioUnavailable("the ledger page has no items list")
            for item in items:
                if item.get("status") != "SUCCESS" or item.get("description") != "bench":
                    continue
                if item.get("receiver_id") == other_account:
                    outgoing += 1
                elif item.get("sender_id") == other_account:
                    incoming += 1
            cursor = page.get("next_cursor")
            if not cursor:
                return outgoing, incoming
    raise ScenarioUnavailable(f"reading the ledger took more than {LEDGER_TIMEOUT:.0f}s")


def idempotent_create(ctx: Context, result: ScenarioResult) -> None:
    """POST /payments with a fresh Idempotency-Key per request."""
    user = ctx.platform.user("payer-c")
    pay(ctx, user, "1.00", f"bench-probe-{run_token()}")  # the endpoint works before load
    body = (
        '{"amount":"1.00","currency":"USD","description":"bench","payment_method":"pm_card_visa"}'
    )
    url = f"{ctx.platform.stack.gateway_url}/payments/payments"
    # Each wrk run numbers its keys from 1: the warm-up gets a prefix of its own, so that the
    # measured run's keys are all new (not replays of the warm-up's).
    if ctx.profile.warmup_seconds > 0:
        warm_up_args = (f"bench-warm-up-{run_token()}", user.access_token, body)
        ctx.http_load(url, script="payments", script_args=warm_up_args, warm_up=False)
    run = ctx.http_load(
        url,
        script="payments",
        script_args=(f"bench-{run_token()}", user.access_token, body),
        warm_up=False,
    )
    accepted = run.counters.get("accepted", 0)
    measurement = result.measure(
        run.measurement("ours: payments accepted via gateway", value=accepted / run.seconds)
    )
    measurement.unit = "payments/s"
    result.target("accepted payments/s", measurement.value, 800, unit="/s")
    result.target("p99", run.p99_ms, 50, at_least=False, unit="ms")
    result.notes.append(f"outcomes {run.counters}; socket errors {run.errors}")
    settled = wait_for_payments_to_settle(ctx, user)
    result.notes.append(
        f"background processing of the accepted payments took {settled:.1f}s after the load"
        if settled is not None
        else f"background processing not seen to finish within {SETTLE_TIMEOUT:.0f}s of the load"
    )
    drained = wait_for_deliveries(ctx)
    result.notes.append(
        f"their events were delivered to accounts {drained:.1f}s after the load"
        if drained is not None
        else f"event deliveries still pending {DELIVERY_TIMEOUT:.0f}s after the load"
    )


def wait_for_payments_to_settle(ctx: Context, user: SignedInUser) -> float | None:
    """Wait (bounded) until none of the user's payments is still accepted or processing.

    The worker goes on after the load; letting it finish keeps it out of the next scenario.
    """
    started = time.monotonic()
    with ctx.platform.client() as client:
        while time.monotonic() - started < SETTLE_TIMEOUT:
            pending = 0
            for status in ("accepted", "processing"):
                response = client.get(
                    "/payments/payments",
                    params={"status": status, "limit": 1},
                    headers=user.headers,
                )
                if response.status_code != 200:
                    return None
                page = response.json()
                listed = page.get("data") if isinstance(page, dict) else None
                if not isinstance(listed, list):
                    return None
                pending += len(listed)
            if pending == 0:
                return time.monotonic() - started
            time.sleep(0.5)
    return None


def wait_for_deliveries(ctx: Context) -> float | None:
    """Wait (bounded) until the payments outbox has no pending delivery, as its metric says.

    The relay goes on after the load too; the next scenario should not share the CPU with it.
    """
    started = time.monotonic()
    url = f"{ctx.platform.stack.service_url('payments')}/metrics"
    while time.monotonic() - started < DELIVERY_TIMEOUT:
        found = _BACKLOG.search(httpx.get(url, timeout=10).text)
        if found is None:
            return None
        if float(found.group(1)) == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    return None
