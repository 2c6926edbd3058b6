"""One HTTP transfer with bounds: never more bytes than the registry allows, never forever.

    Limits.from_env(size)          the bounds of one file's download, from the environment
    transfer(url, out, cap, exact, limits, on_bytes)
                                   GET `url` and write its body to the open file `out`

What a hostile or broken server can no longer do:
- send more than `cap` bytes: a `Content-Length` that disagrees with the registered size (or,
  where only an upper bound is known, exceeds it) is refused before a byte is written, and a
  body without one is cut off at `cap` + 1 bytes (TooBig);
- dribble: a watchdog thread measures the body's bytes. In each span of `timeout` seconds at
  least `timeout * min_rate` bytes must arrive, and the whole file must be done within
  `deadline` seconds (default `timeout + cap / min_rate`). A request that breaks a bound has
  its socket shut down, which wakes the blocked read, headers included (a server sending one
  byte a second of headers never trips a per-read timeout: every read gets its byte). It ends
  as Failed("timed out: ...").

The environment sets the bounds (documented in the README, "Standard datasets"):
    DLCLI_DATA_TIMEOUT    seconds: to connect, the longest wait for any byte, and the span over
                          which the rate is measured (default 60)
    DLCLI_DATA_MIN_RATE   bytes per second, the least average over each span (default 10000)
    DLCLI_DATA_DEADLINE   seconds for one file, whatever its size (default: timeout + cap/rate)

The body is read as stored (no Content-Encoding decoding: the file's own bytes are what the
SHA-256 covers). requests (certifi's CA bundle, proxies from the environment, redirects) is
imported only here, when a file is actually downloaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from dlcli.errors import InputError

TIMEOUT_ENV = "DLCLI_DATA_TIMEOUT"
MIN_RATE_ENV = "DLCLI_DATA_MIN_RATE"
DEADLINE_ENV = "DLCLI_DATA_DEADLINE"
TIMEOUT = 60.0  # seconds
MIN_RATE = 10_000.0  # bytes per second: 10 kB/s, a slow mobile link still passes
MAX_READ = 1 << 20  # bytes per read at most (and per progress event)


class Failed(Exception):
    """The transfer failed; the message is the reason ('timed out: ...', 'HTTP 404', ...)."""


class TooBig(Exception):
    """The server announced or sent more bytes than the registry allows."""


@dataclass(frozen=True)
class Limits:
    timeout: float  # seconds: connect, the longest wait for a byte, the rate's span
    min_rate: float  # bytes per second over each span
    deadline: float  # seconds for the whole file

    @classmethod
    def from_env(cls, size: int) -> Limits:
        """The bounds for a file of at most `size` bytes, as the environment sets them."""
        timeout = _positive(TIMEOUT_ENV, TIMEOUT)
        rate = _positive(MIN_RATE_ENV, MIN_RATE)
        deadline = _positive(DEADLINE_ENV, timeout + size / rate)
        return cls(timeout, rate, deadline)

    @property
    def read_size(self) -> int:
        """Bytes per read: small enough that a read at the minimum rate ends within a quarter
        span (the watchdog sees progress only between reads), at most MAX_READ."""
        return int(min(MAX_READ, max(1024, self.min_rate * self.timeout / 4)))


def _positive(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        raise InputError(f"{name}={text}: expected a positive number")
    return value


class Watchdog:
    """A thread that shuts down the transfer's sockets when the body is too slow or too late.

    `watch(sock)` keeps a duplicate of each socket the request opens (the duplicate stays
    valid whoever closes the original, so a shutdown never hits a reused descriptor);
    `progress(done)` reports the body's bytes so far. `reason` says why it fired (else None).
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.reason: str | None = None
        self.done = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dlcli-download-watchdog")
        self._thread.daemon = True

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock.dup())
            if self.reason is not None:  # fired before this socket existed
                self._shut()

    def progress(self, done: int) -> None:
        self.done = done

    def _run(self) -> None:
        limits = self.limits
        start = time.monotonic()
        span_start, span_done = start, 0
        tick = min(1.0, limits.timeout / 8)
        while not self._stop.wait(tick):
            now = time.monotonic()
            if now - start > limits.deadline:
                self._fire(f"not done after {limits.deadline:g} s ({DEADLINE_ENV})")
                return
            if now - span_start >= limits.timeout:
                got = self.done - span_done
                if got < limits.min_rate * (now - span_start):
                    self._fire(
                        f"{got} bytes of the file in {now - span_start:.1f} s, below the minimum "
                        f"of {limits.min_rate:g} bytes/s ({MIN_RATE_ENV})"
                    )
                    return
                span_start, span_done = now, self.done

    def _fire(self, reason: str) -> None:
        with self._lock:
            self.reason = f"timed out: {reason}"
            self._shut()

    def _shut(self) -> None:
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _session(dog: Watchdog):
    """A requests session whose every connection (direct or through an HTTP proxy) is
    registered with the watchdog as it is opened."""
    import requests
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def watched(base: type) -> type:
        class Watched(base):
            def _new_conn(self):  # urllib3's one place where a connection's socket is made
                sock = super()._new_conn()
                dog.watch(sock)
                return sock

        return Watched

    class Pool(HTTPConnectionPool):
        ConnectionCls = watched(HTTPConnection)

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = watched(HTTPSConnection)

    pools = {"http": Pool, "https": TLSPool}

    class Adapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS pools have their own classes
                manager.pool_classes_by_scheme = pools
            return manager

    session = requests.Session()
    adapter = Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def transfer(
    url: str,
    out: IO[bytes],
    cap: int,
    exact: bool,
    limits: Limits,
    on_bytes: Callable[[int, int], None] | None = None,
) -> int:
    """GET `url` into `out`; return the bytes written. `cap`: the registered size (`exact`) or
    an upper bound. `on_bytes(done, total)` after each read (total 0: not announced).
    Raises TooBig, Failed (the reason in words), or OSError from writing `out`."""
    import requests

    with Watchdog(limits) as dog, _session(dog) as session:
        try:
            response = session.get(url, stream=True, timeout=(limits.timeout, limits.timeout))
        except requests.RequestException as exc:
            raise Failed(dog.reason or reason(exc, limits)) from None
        with response:
            if response.status_code >= 400:
                raise Failed(f"HTTP {response.status_code}")
            total = _announced(response.headers.get("Content-Length"), cap, exact)
            return _body(response.raw, out, cap, total, limits, dog, on_bytes)


def _announced(header: str | None, cap: int, exact: bool) -> int:
    """The Content-Length, checked against the registry (0 where none was sent)."""
    if header is None:
        return 0
    try:
        length = int(header)
    except ValueError:
        raise Failed(f"a malformed Content-Length ({header[:40]!r})") from None
    if (exact and length != cap) or length > cap:
        wanted = f"{cap} bytes" if exact else f"at most {cap} bytes"
        raise TooBig(f"the server announces {length} bytes where the registry says {wanted}")
    return length


def _body(raw, out: IO[bytes], cap: int, total: int, limits, dog, on_bytes) -> int:
    """Copy the body to `out`, refusing byte cap + 1; the watchdog's reason wins any error."""
    import urllib3

    done = 0
    size = limits.read_size
    while True:
        try:
            block = raw.read(size, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Failed(dog.reason or reason(exc, limits)) from None
        if dog.reason is not None:  # the shutdown may read as a plain end of file
            raise Failed(dog.reason)
        if not block:
            return done
        done += len(block)
        if done > cap:
            raise TooBig(f"the server sent more than the {cap} bytes the registry allows")
        out.write(block)
        dog.progress(done)
        if on_bytes is not None:
            on_bytes(done, total)


def reason(exc: BaseException, limits: Limits | None = None) -> str:
    """A short reason for a failed request: 'Connection refused', 'timed out: ...', ..."""
    import requests
    import urllib3

    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError, socket.timeout)
    chain = [exc, exc.__cause__, exc.__context__, *(getattr(exc, "args", ()) or ())]
    text = str(exc)
    if any(isinstance(e, timeouts) for e in chain) or "timed out" in text.lower():
        seconds = f" for {limits.timeout:g} s ({TIMEOUT_ENV})" if limits else ""
        return f"timed out: nothing received{seconds}"
    if "IncompleteRead" in text or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off before the end of the file"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    if "Connection refused" in text:
        return "Connection refused"
    return " ".join(text.split())[:200] or type(exc).__name__
