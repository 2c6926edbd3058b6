"""Downloads and readers that cannot fill the disk, hang, or blow up (issue 20, items 3-6, 11).

A hostile mirror on 127.0.0.1 (zeros without end, a Content-Length of 10^15, headers or a body
dribbled a byte at a time, a stall), a download killed with SIGKILL, registry files that are a
FIFO or a device made in a temporary folder, a CSV that is one long line, archives whose members
inflate past the original's, a corpus without spaces. Each test failed before its fix (a
hang is turned into a failure by the servers, which give up after SERVE_FOR seconds).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import http.server
import io
import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from tests.conftest import assert_input_error, cli

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
HOSTILE = f"mnist/{FILES[0]}"  # the first file `dlcli data fetch mnist` asks for
SERVE_FOR = 20.0  # seconds a dribbling route keeps going (before the fix: the test's failure)
FAST_ENV = {"DLCLI_DATA_TIMEOUT": "1", "DLCLI_DATA_MIN_RATE": "1000"}


# --- a mirror that misbehaves on request ---------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    routes: dict
    stop: threading.Event
    sent: dict


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.lstrip("/")
        route = self.server.routes.get(path)
        if route is None:
            self.send_error(404)
            return
        with contextlib.suppress(OSError):  # the client hung up: that is what we test
            route(self, path)

    def log_message(self, *args) -> None:
        pass


def serve(data: bytes):
    def route(h: _Handler, path: str) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return route


def zeros(length: int | None = None, limit: int = 64 << 20):
    """Zeros until `limit` bytes (a connection-close body), announcing `length` if given."""

    def route(h: _Handler, path: str) -> None:
        h.send_response(200)
        if length is not None:
            h.send_header("Content-Length", str(length))
        h.end_headers()
        block = bytes(1 << 16)
        while h.server.sent.get(path, 0) < limit and not h.server.stop.is_set():
            h.wfile.write(block)
            h.server.sent[path] = h.server.sent.get(path, 0) + len(block)

    return route


def dribble(headers_too: bool, length: int = 1000, every: float = 0.05, block: int = 1):
    """`block` bytes every `every` seconds: of the headers (an endless header line), or of a
    body of `length` announced bytes."""

    def route(h: _Handler, path: str) -> None:
        if headers_too:
            h.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        else:
            h.send_response(200)
            h.send_header("Content-Length", str(length))
            h.end_headers()
        start = time.monotonic()
        while time.monotonic() - start < SERVE_FOR and not h.server.stop.wait(every):
            h.wfile.write(b"a" * block)

    return route


def stall(h: _Handler, path: str) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.server.stop.wait(SERVE_FOR)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A server on 127.0.0.1 with good copies of mnist's four files (random bytes: `data fetch`
    does not parse them), a registry of their SHA-256 and sizes, a fresh cache; the env vars
    point dlcli at all three. Tests replace routes to make the server hostile."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.routes, srv.stop, srv.sent = {}, threading.Event(), {}
    srv.good = {f"mnist/{f}": os.urandom(1000 + 100 * i) for i, f in enumerate(FILES)}
    srv.routes.update({k: serve(v) for k, v in srv.good.items()})
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.registry = tmp_path / "registry.txt"
    write_registry(srv.registry, srv.good, sizes=True)
    srv.cache = tmp_path / "cache"
    srv.env = {
        "DLCLI_DATA_URL": f"http://127.0.0.1:{srv.server_address[1]}",
        "DLCLI_DATA_REGISTRY": str(srv.registry),
        "DLCLI_DATA_DIR": str(srv.cache),
    }
    for key, value in srv.env.items():
        monkeypatch.setenv(key, value)
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


def write_registry(path: Path, files: dict[str, bytes], sizes: bool) -> None:
    lines = [
        f"{key} {hashlib.sha256(data).hexdigest()}" + (f" {len(data)}" if sizes else "")
        for key, data in files.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def one_error_line(result, status: int = 1) -> str:
    assert result.exit_code == status, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlcli: error: "), result.stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def fetch_timed(*args: str) -> tuple[object, float]:
    start = time.monotonic()
    result = cli("data", "fetch", *args)
    return result, time.monotonic() - start


# --- 3. a size cap --------------------------------------------------------------------------------


def test_zeros_without_content_length_stop_at_the_registered_size(mirror):
    mirror.routes[HOSTILE] = zeros(length=None)
    result, _ = fetch_timed("mnist", "-q")
    line = one_error_line(result)
    assert "sent more than the 1000 bytes the registry allows" in line, line
    assert leftovers(mirror.cache) == []  # no file, no temporary file


def test_a_content_length_that_disagrees_is_refused_before_a_byte_is_written(mirror):
    mirror.routes[HOSTILE] = zeros(length=10**15)
    result, seconds = fetch_timed("mnist", "-q")
    line = one_error_line(result)
    assert "announces 1000000000000000 bytes where the registry says 1000 bytes" in line, line
    assert leftovers(mirror.cache) == []
    mirror.routes[HOSTILE] = serve(mirror.good[HOSTILE][:999])  # shorter is no better
    line = one_error_line(cli("data", "fetch", "mnist", "-q"))
    assert "announces 999 bytes" in line, line


def test_an_old_two_column_line_is_capped_by_the_published_size(mirror):
    from dlcli.datasets.registry import DATASETS

    published = DATASETS["mnist"].files[0].size  # 9,912,422 bytes
    write_registry(mirror.registry, mirror.good, sizes=False)
    mirror.routes[HOSTILE] = zeros(length=None, limit=published + (1 << 20))
    line = one_error_line(cli("data", "fetch", "mnist", "-q"))
    assert f"sent more than the {published} bytes the registry allows" in line, line
    assert leftovers(mirror.cache) == []
    mirror.routes[HOSTILE] = serve(mirror.good[HOSTILE])  # and a good file still comes
    assert cli("data", "fetch", "mnist", "-q").exit_code == 0


def test_registry_lines_with_sizes(tmp_path, monkeypatch):
    from dlcli.datasets.registry import DATASETS, Registered, registered

    monkeypatch.delenv("DLCLI_DATA_REGISTRY", raising=False)
    shipped = registered()
    for name, info in DATASETS.items():  # the shipped sizes are the published ones
        for f in info.files:
            if name != "text8":
                assert shipped[f"{name}/{f.name}"].size == f.size
    registry = tmp_path / "reg.txt"
    registry.write_text(
        f"mnist/{FILES[0]} {'ab' * 32} 1_000  # sized\nmnist/{FILES[1]} sha256:{'CD' * 32}\n"
    )
    monkeypatch.setenv("DLCLI_DATA_REGISTRY", str(registry))
    table = registered()
    assert table[f"mnist/{FILES[0]}"] == Registered("ab" * 32, 1000)
    assert table[f"mnist/{FILES[1]}"] == Registered("cd" * 32, None)  # the old form reads
    registry.write_text(f"mnist/{FILES[0]} {'ab' * 32} 12kB\n")
    monkeypatch.setenv("DLCLI_DATA_DIR", str(tmp_path / "cache"))
    assert_input_error(cli("data", "fetch", "mnist"), f"{registry}:1", "[BYTES]")


# --- 4. what a killed download leaves is swept ----------------------------------------------------


def test_a_killed_download_leaves_a_temporary_file_the_next_fetch_sweeps(mirror):
    import fcntl

    mirror.routes[HOSTILE] = dribble(headers_too=False, length=1000, every=0.01, block=1)
    folder = mirror.cache / "mnist"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "data", "fetch", "mnist", "-q"],
        env={**os.environ, **mirror.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not [n for n in leftovers(folder) if n.endswith(".tmp")]:
            assert time.monotonic() < deadline and proc.poll() is None, "no download started"
            time.sleep(0.05)
        time.sleep(0.3)  # well into the transfer
    finally:
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.wait()
    killed = [folder / n for n in leftovers(folder)]
    assert len(killed) == 1 and killed[0].name.startswith(f".{FILES[0]}.")
    # beside it: a live download's file (locked), a fresh one, and a stranger's file
    live = folder / f".{FILES[0]}.live0001.tmp"
    fresh = folder / f".{FILES[0]}.fresh001.tmp"
    other = folder / ".notes.txt.abcd.tmp"
    for path in (live, fresh, other):
        path.write_bytes(b"x")
    old = time.time() - 3600
    for path in (killed[0], live, other):
        os.utime(path, (old, old))
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        mirror.routes[HOSTILE] = serve(mirror.good[HOSTILE])
        result = cli("data", "fetch", "mnist", "-q")
        assert result.exit_code == 0, result.output
    left = leftovers(folder)
    assert killed[0].name not in left  # swept
    assert {live.name, fresh.name, other.name} <= set(left)  # held, recent, not ours: kept
    assert (folder / FILES[0]).read_bytes() == mirror.good[HOSTILE]


# --- 5. slow servers ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers_too", [True, False], ids=["headers", "body"])
def test_a_server_dribbling_a_byte_at_a_time_is_given_up(mirror, monkeypatch, headers_too):
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    mirror.routes[HOSTILE] = dribble(headers_too=headers_too)
    result, seconds = fetch_timed("mnist", "-q")
    line = one_error_line(result)
    assert "timed out: " in line and "DLCLI_DATA_MIN_RATE" in line, line
    assert "Read timed out" not in line
    assert seconds < 6, seconds  # within about two 1-s spans, not SERVE_FOR
    assert leftovers(mirror.cache) == []


def test_the_deadline_ends_a_download_that_is_steady_but_too_long(mirror, monkeypatch):
    for key, value in {**FAST_ENV, "DLCLI_DATA_DEADLINE": "1.5"}.items():
        monkeypatch.setenv(key, value)
    big = os.urandom(200_000)
    files = {**mirror.good, HOSTILE: big}
    write_registry(mirror.registry, files, sizes=True)
    # 4,000 bytes/s: above the minimum rate, but 50 s for the file
    mirror.routes[HOSTILE] = dribble(headers_too=False, length=len(big), every=0.05, block=200)
    result, seconds = fetch_timed("mnist", "-q")
    line = one_error_line(result)
    assert "timed out: not done after 1.5 s (DLCLI_DATA_DEADLINE)" in line, line
    assert seconds < 5, seconds


def test_over_https_a_good_file_comes_and_a_dribbling_server_is_given_up(mirror, monkeypatch):
    """The watchdog's hook sits on urllib3's connection classes: the TLS one too (the
    publishers serve CIFAR and IMDB over HTTPS). A self-signed mirror, trusted for this test."""
    import ssl

    pem = ROOT / "tests" / "tls" / "localhost.pem"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.routes, srv.stop, srv.sent = dict(mirror.routes), mirror.stop, {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))
        monkeypatch.setenv("DLCLI_DATA_URL", f"https://127.0.0.1:{srv.server_address[1]}")
        for key, value in FAST_ENV.items():
            monkeypatch.setenv(key, value)
        result = cli("data", "fetch", "mnist", "-q")
        assert result.exit_code == 0, result.output
        assert (mirror.cache / HOSTILE).read_bytes() == mirror.good[HOSTILE]
        (mirror.cache / HOSTILE).unlink()
        srv.routes[HOSTILE] = dribble(headers_too=False)
        result, seconds = fetch_timed("mnist", "-q")
        line = one_error_line(result)
        assert line.startswith("dlcli: error: cannot download https://") and "timed out: " in line
        assert seconds < 6, seconds
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_stalled_server_times_out_in_one_phrase(mirror, monkeypatch):
    monkeypatch.setenv("DLCLI_DATA_TIMEOUT", "0.5")
    monkeypatch.setenv("DLCLI_DATA_MIN_RATE", "1")  # only the wait for a byte can fire
    mirror.routes[HOSTILE] = stall
    line = one_error_line(cli("data", "fetch", "mnist", "-q"))
    assert "timed out: " in line and "Read timed out" not in line, line


def test_a_bad_limit_in_the_environment_is_an_input_error(mirror, monkeypatch):
    monkeypatch.setenv("DLCLI_DATA_MIN_RATE", "fast")
    assert_input_error(cli("data", "fetch", "mnist"), "DLCLI_DATA_MIN_RATE=fast", "positive")


# --- 6. registry files that are not files ---------------------------------------------------------


def test_a_registry_that_is_a_fifo_a_device_or_too_big_is_refused(mirror, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    try:  # a /dev/zero of our own (as root); else a link to the system's, which is only read
        os.mknod(zero, stat.S_IFCHR | 0o444, os.makedev(1, 5))
    except OSError:
        zero.symlink_to("/dev/zero")
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate((1 << 20) + 1)
    for path, fragment in (
        (fifo, "is not a regular file"),
        (zero, "is not a regular file"),
        (big, "a DLCLI_DATA_REGISTRY file is at most 1048576 bytes"),
    ):
        # a real process: before the fix, the FIFO blocked it for good (here: for 60 s)
        result = subprocess.run(
            [sys.executable, "-m", "dlcli", "data", "fetch", "mnist"],
            env={**os.environ, **mirror.env, "DLCLI_DATA_REGISTRY": str(path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (path, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and fragment in lines[0], lines


# --- 11. a CSV that is one huge line --------------------------------------------------------------


def one_line_csv(path: Path, megabytes: int, compress: bool = False) -> Path:
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(b"a,b,label\n1,2,0\n")
        block = b"1," * (1 << 19)  # 1 MiB
        for _ in range(megabytes):
            fh.write(block)
        fh.write(b"0\n")
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["csv", "csv.gz"])
def test_a_csv_line_past_the_bound_is_refused_as_it_is_read(tmp_path, monkeypatch, compress):
    import dlcli.training.data.tables as tables

    monkeypatch.setattr(tables, "MAX_CSV_LINE", 1 << 20)
    name = "one.csv.gz" if compress else "one.csv"
    path = one_line_csv(tmp_path / name, 3, compress)
    result = cli("train", "mlp", "--data", path, "--epochs", "1", "--out", tmp_path / "r")
    assert_input_error(result, f"{path}:3: the line is longer than 1.0 MB", "line breaks")


def test_a_one_line_csv_is_refused_with_memory_to_spare(tmp_path):
    """In a fresh process: reading a 32 MiB line under a 1 MiB bound raises the peak memory by
    a few MB at most; reading it whole first (the old way) raised it by ~400 MB."""
    path = one_line_csv(tmp_path / "one.csv", 32)
    code = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        import numpy
        import dlcli.training.data.tables as tables
        from dlcli.errors import InputError
        tables.MAX_CSV_LINE = 1 << 20
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            tables.csv_table(Path({str(path)!r}), "label")
        except InputError as exc:
            print("refused:", exc)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print("grew_kib", grew)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "longer than 1.0 MB" in proc.stdout, proc.stdout
    grew = int(proc.stdout.split("grew_kib")[1])
    assert grew < 16 * 1024, proc.stdout  # KiB on Linux: under 16 MiB for a 32 MiB line


def test_a_text_csv_that_is_one_huge_line_is_refused(tmp_path, monkeypatch):
    import dlcli.training.data.tables as tables
    from dlcli.training.data.text import read_text_csv

    monkeypatch.setattr(tables, "MAX_CSV_LINE", 1 << 16)
    path = tmp_path / "texts.csv"
    path.write_text("text,label\n" + "word " * 20_000 + ",pos\n")
    from dlcli.errors import InputError

    with pytest.raises(InputError, match=r"texts.csv:2: the line is longer than 65.5 kB"):
        read_text_csv(path)


# --- small: a read-only cache, archives that inflate, a corpus without spaces --------------------


def test_a_read_only_cache_folder_is_one_line_naming_it(mirror, monkeypatch):
    folder = mirror.cache / "mnist"
    folder.mkdir(parents=True)
    if os.geteuid() == 0:  # root writes anywhere: the file system's refusal, injected
        import tempfile

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    else:
        folder.chmod(0o555)
    try:
        line = one_error_line(cli("data", "fetch", "mnist", "-q"))
    finally:
        folder.chmod(0o755)
    assert f"cannot write in the data folder {folder}" in line, line
    assert "DLCLI_DATA_DIR" in line


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_archives_whose_members_inflate_past_the_originals_are_refused(tmp_path, monkeypatch):
    from dlcli.datasets import cifar, idx, imdb
    from dlcli.errors import InputError, RunFailure

    archive = tmp_path / "cifar-10-binary.tar.gz"  # whole records, one batch too many
    archive.write_bytes(tar_gz({"cifar-10-batches-bin/data_batch_1.bin": bytes(10_001 * 3073)}))
    with pytest.raises(InputError, match=r"cifar-10-binary.tar.gz: .*data_batch_1.bin holds"):
        cifar.load_cifar("cifar10", archive)
    monkeypatch.setattr(imdb, "MAX_TOTAL", 3000)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    members = {f"aclImdb/train/pos/{i}_9.txt": b"good " * 200 for i in range(4)}
    archive.write_bytes(tar_gz(members))
    with pytest.raises(InputError, match=r"aclImdb_v1.tar.gz: .*not the imdb archive"):
        imdb.load_imdb(archive)
    # an IDX header that announces 4 GB is refused without reading on
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (300).to_bytes(4, "big") * 2
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(InputError, match="more than the 1073741824 bytes"):
        idx.read_idx(path)

    # and where memory runs out all the same, the message names the archive
    def no_memory(*args, **kwargs):
        raise MemoryError

    archive = tmp_path / "cifar-100-binary.tar.gz"
    archive.write_bytes(tar_gz({"cifar-100-binary/train.bin": bytes(3074)}))
    monkeypatch.setattr(tarfile.TarFile, "extractfile", no_memory)
    with pytest.raises(RunFailure, match=r"cifar-100-binary.tar.gz: out of memory"):
        cifar.load_cifar("cifar100", archive)


def test_a_corpus_without_spaces_is_refused_and_long_tokens_are_skipped(tmp_path):
    import json

    from dlcli.wordvec.corpus import MAX_WORD

    blob = tmp_path / "blob.txt"
    blob.write_text("abcdefgh" * 40_000)  # 320 kB, one "word"
    assert_input_error(
        cli("word2vec", "skipgram", blob, "--workers", "1", "--epochs", "1"),
        "holds no words",
        f"1 longer than {MAX_WORD} characters were skipped",
    )
    mixed = tmp_path / "mixed.txt"
    long_word = "x" * (MAX_WORD + 1)
    mixed.write_text(("the king and the queen " * 20 + "\n") * 20 + long_word + "\n")
    result = cli(
        "word2vec", "skipgram", mixed, "--min-count", "1", "--workers", "1", "--epochs", "1",
        "--size", "8", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 token(s) longer than 100 characters were skipped" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["vocab_size"] == 4 and doc["corpus_words"] == 20 * 20 * 5
    edge = tmp_path / "edge.txt"  # a word of exactly MAX_WORD characters is a word
    edge.write_text(("y" * MAX_WORD + " ") * 10 + "\n")
    result = cli("word2vec", "skipgram", edge, "--min-count", "1", "--workers", "1", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["vocab_size"] == 1, result.output
