"""Finished requests are metered and logged together at the end of their loop turn."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import cast

from servicekit.logging import AccessEntry, AccessLog
from servicekit.observability import FinishedRequests
from servicekit.request_metrics import RequestRecorder


class _Books:
    """Stands in for the metrics and the access log: remembers what it was given."""

    def __init__(self, *, writes_directly: bool = True) -> None:
        self.metered: list[tuple[str, str, int]] = []
        # (path, request id, time) of each logged request, a list per call (one write).
        self.writes: list[list[tuple[str, str, float]]] = []
        self._writes_directly = writes_directly

    @property
    def logged(self) -> list[tuple[str, str, float]]:
        return [entry for write in self.writes for entry in write]

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self.metered.append((method, route, status))

    def requests(self, entries: Iterable[AccessEntry]) -> None:
        self.writes.append(
            [(path, request_id, created) for created, _, path, *_, request_id in entries]
        )

    def writes_directly(self) -> bool:
        return self._writes_directly


def _finished(books: _Books) -> FinishedRequests:
    return FinishedRequests(cast(RequestRecorder, books), cast(AccessLog, books))


def _add(finished: FinishedRequests, path: str, request_id: str) -> None:
    finished.add("GET", path, "/items/{item_id}", 200, 0.001, request_id)


async def _finish_then_yield(finished: FinishedRequests, path: str) -> None:
    _add(finished, path, path)
    await asyncio.sleep(0)


def test_requests_finished_in_one_turn_are_metered_and_logged_together_at_its_end() -> None:
    books = _Books()
    finished = _finished(books)
    seen_during_the_turn: list[int] = []
    finished_by: list[float] = []

    async def one_turn() -> None:
        _add(finished, "/items/1", "first")
        _add(finished, "/items/2", "second")
        finished_by.append(time.time())
        seen_during_the_turn.append(len(books.logged) + len(books.metered))
        time.sleep(0.002)  # noqa: ASYNC251 - the rest of the turn takes a while
        await asyncio.sleep(0)  # the loop's next turn

    asyncio.run(one_turn())
    assert seen_during_the_turn == [0]
    assert [(path, request_id) for path, request_id, _ in books.logged] == [
        ("/items/1", "first"),
        ("/items/2", "second"),
    ]
    # Each line keeps the time its request finished, not the time it was written.
    assert all(created <= finished_by[0] for *_, created in books.logged)
    assert books.metered == [("GET", "/items/{item_id}", 200)] * 2
    assert len(books.writes) == 1  # the turn's lines are written together as it ends


def test_settling_early_takes_what_the_turn_has_finished_so_far_and_only_once() -> None:
    books = _Books()
    finished = _finished(books)
    seen_at_the_scrape: list[int] = []

    async def scrape_in_the_same_turn() -> None:
        _add(finished, "/items/1", "first")
        finished.settle()  # what /metrics does before it answers
        seen_at_the_scrape.append(len(books.metered))
        await asyncio.sleep(0)

    asyncio.run(scrape_in_the_same_turn())
    assert seen_at_the_scrape == [1]
    assert len(books.metered) == len(books.logged) == 1


def test_a_request_finished_where_no_loop_runs_is_settled_at_once() -> None:
    books = _Books()
    _add(_finished(books), "/items/1", "no-loop")
    assert [request_id for _, request_id, _ in books.logged] == ["no-loop"]


def test_while_lines_go_through_logging_a_request_is_settled_before_its_client_hears() -> None:
    # A test's capture handler reads the record right after the response: it must be there.
    books = _Books(writes_directly=False)
    finished = _finished(books)
    seen_during_the_turn: list[int] = []

    async def one_turn() -> None:
        _add(finished, "/items/1", "captured")
        seen_during_the_turn.append(len(books.logged))

    asyncio.run(one_turn())
    assert seen_during_the_turn == [1]


def test_requests_of_a_loop_that_stopped_are_settled_with_the_next_loops() -> None:
    books = _Books()
    finished = _finished(books)
    stopped = asyncio.new_event_loop()

    async def finish(path: str) -> None:
        _add(finished, path, path)

    try:
        # The loop stops right after the request finished: its settling never runs.
        stopped.run_until_complete(finish("/items/1"))
    finally:
        stopped.close()
    asyncio.run(_finish_then_yield(finished, "/items/2"))
    assert [path for path, _, _ in books.logged] == ["/items/1", "/items/2"]


def test_a_request_is_settled_at_its_own_loops_turn_end_while_another_threads_is_busy() -> None:
    books = _Books()
    finished = _finished(books)
    added, release = threading.Event(), threading.Event()

    async def hold_the_loop() -> None:
        _add(finished, "/items/1", "busy")
        added.set()
        release.wait(timeout=10)  # blocks its loop's turn: its settling cannot run

    busy = threading.Thread(target=asyncio.run, args=(hold_the_loop(),))
    busy.start()
    try:
        assert added.wait(timeout=10)
        asyncio.run(_finish_then_yield(finished, "/items/2"))
        assert [path for path, _, _ in books.logged] == ["/items/1", "/items/2"]
    finally:
        release.set()
        busy.join(timeout=10)


def test_a_turn_that_finishes_many_requests_settles_as_it_goes() -> None:
    books = _Books()
    finished = _finished(books)
    seen_during_the_turn: list[int] = []

    async def busy_turn() -> None:
        for number in range(finished.max_pending):
            _add(finished, f"/items/{number}", str(number))
        seen_during_the_turn.append(len(books.logged))

    asyncio.run(busy_turn())
    assert seen_during_the_turn == [finished.max_pending]
