"""One way for tests to pick a port that nothing else will take before the test binds it.

A port from ``bind(0)`` comes from the kernel's ephemeral range, and between closing that
probe socket and the service's own bind any outgoing connection (a database client, an
HTTP call of another process) may take the same number: CI once lost a run to ``address
already in use``. So a port is picked below the ephemeral range, where outgoing
connections never land, and claimed with a lock file that this process holds until it
exits, so that suites running side by side (the shifted-clock runs) never pick the same
one.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from pathlib import Path

_LOCKS = Path(tempfile.gettempdir()) / "huodian-test-ports"
_FALLBACK_RANGE = (20000, 32000)
_held: list[int] = []  # lock-file descriptors, open (and so locked) until the process exits
_random = random.SystemRandom()  # independent of any test that seeds the random module


def _range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range (``ip_local_port_range``)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_RANGE
    if low > 12000:
        return (10000, low)
    if low > 2048:  # an unusual range: whatever lies below it, above the well-known ports
        return (1024, low)
    raise RuntimeError(f"the ephemeral port range starts at {low}: no room below it for tests")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    _LOCKS.mkdir(exist_ok=True)
    low, high = _range()
    for _ in range(500):
        port = _random.randrange(low, high)
        try:
            fd = os.open(_LOCKS / str(port), os.O_CREAT | os.O_RDWR, 0o666)
        except OSError:  # another user's lock file (umask): that port is theirs, take another
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if _bindable(port):
            _held.append(fd)
            return port
        os.close(fd)
    raise RuntimeError(f"no free port in {low}–{high}")
