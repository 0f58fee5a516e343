"""Processes the benchmarks start (peers, ceilings) and what /proc tells about them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from devstack.stack import LoggedProcess, http_status


def wait_for_status(url: str, status: int = 200, timeout: float = 30.0, poll: float = 0.01) -> bool:
    """Poll ``url`` until it answers ``status``; False when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(url) == status:
            return True
        time.sleep(poll)
    return False


class Server:
    """A server process started for one measurement, stopped (SIGTERM, then SIGKILL) after.

    ``ready_url`` must answer 200 once the server can take load.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        ready_url: str,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.ready_url = ready_url
        self.process = LoggedProcess(
            name=name,
            command=list(command),
            cwd=cwd or Path.cwd(),
            env={**os.environ, **(env or {})},
            log_path=log_path,
        )

    @property
    def pid(self) -> int:
        """The server's process id (it must be running)."""
        popen = self.process.popen
        assert popen is not None, f"{self.process.name} is not running"
        return popen.pid

    def start(self, timeout: float = 30.0) -> Server:
        """Start the process and wait until it is ready; raise RuntimeError when it is not."""
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if http_status(self.ready_url) == 200:
                return self
            if not self.process.running:
                break
            time.sleep(0.05)
        self.stop()
        tail = self.process.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.process.name} did not become ready:\n{tail}")

    def stop(self) -> None:
        """Stop the process and wait for it."""
        self.process.stop()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from /proc/<pid>/stat."""
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class PeakRSS:
    """Samples a process's RSS in a background thread; ``peak - baseline`` is the growth."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline = rss_bytes(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.interval)

    @property
    def growth(self) -> int:
        """Bytes of RSS above the baseline at the highest sample."""
        return self.peak - self.baseline

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, rss_bytes(self.pid))
