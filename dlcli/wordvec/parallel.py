"""Pass 1 over several processes: the tokenising pass split into parts of whole lines.

    worth_it(files)                            -> whether a pool pays for itself on these inputs
    tokenise(files, lowercase, raw, workers, out) -> Tally; `out` gets exactly the bytes, and
                                                  the Tally exactly the counts, of one process

Every sentence depends on its own line alone (tokenise.text_sentences), so a run of whole lines
tokenises to the same sentences on its own as inside the whole input. The inputs are cut into
such runs ("parts", parts.py), in order:
- a plain file into byte ranges that end just after a b"\\n" near equal offsets (the workers
  read their range from disk; a b"\\n" byte never sits inside a UTF-8 sequence, and CRLF stays
  whole because the cut is after its LF);
- a compressed file or stdin, which cannot be cut by offset, by this process: it reads and
  decompresses blocks and hands out the whole lines of each (a line longer than SPOOL_LINE
  goes to a spool file, so memory stays bounded however long a line is).
Worker processes (multiprocessing, spawn context) tokenise each part into a part file and send
back its Tally; this process appends the part files to `out` in order and merges the counts in
order, which keeps their first-seen order. A part runs here instead while less than
PARALLEL_MIN_BYTES has been read, so small inputs (and small stdin) never start a process.

Ctrl-C or a failing worker: every worker is terminated, the part files are removed and the one
error is raised (InputError / RunFailure / KeyboardInterrupt). Workers ignore SIGINT (the
terminal sends it to them too) and leave on their own if this process dies.

Spawn starts workers by importing the main module of this process as multiprocessing does:
`python -m dlcli` and the `dlcli` script are safe; a script calling `dlcli.word2vec` with
workers > 1 needs the usual `if __name__ == "__main__":` guard. Standard library only.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import queue
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

from dlcli.errors import InputError, RunFailure
from dlcli.tokens import tokenizer
from dlcli.wordvec.parts import Part, cut_parts, estimate
from dlcli.wordvec.tokenise import (
    ERRORS,
    Cuts,
    Tally,
    Tokenizer,
    register_handler,
    write_sentences,
)

PARALLEL_MIN_BYTES = 16 << 20  # below this, starting processes costs more than it saves
IN_FLIGHT = 2  # parts queued per worker: enough that no worker waits for the next


def worth_it(files: list[str]) -> bool:
    """Whether the inputs are large enough for worker processes (stdin: decided as it is read)."""
    if "-" in files:
        return True
    return estimate(files) >= PARALLEL_MIN_BYTES


# --------------------------------------------------------------------------- tokenising one part


class _Range(io.RawIOBase):
    """bytes [start, end) of a file, as a raw stream."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self._f.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self._left]
        n = self._f.readinto(view) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def _tokenise_part(part: Part, tokens_of: Tokenizer, out: IO[str], cuts: Cuts) -> Tally:
    """Tokenise one part into `out`, exactly as one process reading the whole input would."""
    try:
        binary: IO[bytes] = (
            io.BufferedReader(_Range(part.path, part.start, part.end), 1 << 16)
            if part.path is not None
            else io.BytesIO(part.data)
        )
    except OSError as exc:
        raise InputError(f"cannot read {part.name}: {exc.strerror or exc}") from exc
    text = io.TextIOWrapper(binary, encoding="utf-8", errors=ERRORS, newline=None)
    try:
        return write_sentences(text, part.name, tokens_of, out, cuts)
    finally:
        text.close()
        if part.spool:
            with contextlib.suppress(OSError):
                os.unlink(part.path or "")


def _worker(tasks: Any, results: Any, lowercase: bool, raw: bool, cuts: Cuts) -> None:
    """A worker process: (index, part, part file) from `tasks` -> (index, Tally or error); it
    cuts long lines where the parent does (`cuts`, even where a test changed them)."""
    import multiprocessing

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone answers Ctrl-C
    register_handler()  # a fresh interpreter: the codecs registry is per process
    tokens_of = tokenizer(lowercase, raw)
    parent = multiprocessing.parent_process()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return  # the parent died without telling us: do not linger
            continue
        if task is None:
            return
        index, part, path = task
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as out:
                tally = _tokenise_part(part, tokens_of, out, cuts)
            results.put((index, tally))
        except InputError as exc:
            results.put((index, ("input", str(exc))))
        except OSError as exc:
            results.put((index, ("failure", f"cannot write {path}: {exc.strerror or exc}")))
        except BaseException as exc:  # noqa: BLE001 (sent to the parent, which raises it)
            results.put((index, ("failure", f"tokenising worker: {type(exc).__name__}: {exc}")))


# --------------------------------------------------------------------------- the pool


def tokenise(files: list[str], lowercase: bool, raw: bool, workers: int, out: IO[str]) -> Tally:
    """Tokenise `files` into `out` (an open working file in its folder) with `workers` processes."""
    folder = os.path.dirname(os.path.abspath(out.name))
    register_handler()
    cuts = Cuts.current()
    tokens_of = tokenizer(lowercase, raw)
    parts = cut_parts(files, workers, folder)
    tally = Tally()
    pool: _Pool | None = None
    read = estimate([name for name in files if name != "-"])  # stdin: counted as it is read
    try:
        for part in parts:  # here, until the input is large enough for a pool
            if read + part.size >= PARALLEL_MIN_BYTES:
                pool = _Pool(workers, lowercase, raw, folder, cuts)
                pool.run(_chain(part, parts), tally, out)
                break
            tally.add(_tokenise_part(part, tokens_of, out, cuts))
            read += part.size
    except BaseException:
        if pool is not None:
            pool.stop()
        for path in glob.glob(os.path.join(glob.escape(folder), "corpus.txt.*-*")):
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    return tally


def _chain(first: Part, rest: Iterator[Part]) -> Iterator[Part]:
    yield first
    yield from rest


class _Pool:
    """`workers` processes that tokenise parts into part files; results come back in order."""

    def __init__(self, workers: int, lowercase: bool, raw: bool, folder: str, cuts: Cuts) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.folder = folder
        self.workers = workers
        self.tasks = ctx.Queue()
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(self.tasks, self.results, lowercase, raw, cuts),
                name=f"dlcli-tokenise-{i + 1}",
                daemon=True,
            )
            for i in range(workers)
        ]
        # Children inherit an ignored SIGINT through exec, so a Ctrl-C while they start up
        # cannot print a traceback from one of them (only the main thread may set handlers).
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            for proc in self.procs:
                proc.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)

    def run(self, parts: Iterator[Part], tally: Tally, out: IO[str]) -> None:
        """Send the parts, append each part file to `out` and merge its tally, in order."""
        done: dict[int, Tally] = {}
        sent = merged = 0
        more = True
        while True:
            while more and sent - merged < IN_FLIGHT * self.workers:
                part = next(parts, None)
                if part is None:
                    more = False
                    break
                self.tasks.put((sent, part, self._part_file(sent)))
                sent += 1
            if not more and merged == sent:
                break
            index, result = self._next_result()
            if not isinstance(result, Tally):
                kind, message = result
                raise (InputError if kind == "input" else RunFailure)(message)
            done[index] = result
            while merged in done:
                self._append(self._part_file(merged), out)
                tally.add(done.pop(merged))
                merged += 1
        for _ in self.procs:
            self.tasks.put(None)
        for proc in self.procs:
            proc.join()

    def _part_file(self, index: int) -> str:
        return os.path.join(self.folder, f"corpus.txt.part-{index}")

    def _next_result(self) -> tuple[int, Any]:
        while True:
            try:
                return self.results.get(timeout=0.5)
            except queue.Empty:
                for proc in self.procs:
                    if proc.exitcode is not None:
                        raise RunFailure(
                            f"a tokenising worker process ended unexpectedly "
                            f"(exit status {proc.exitcode})"
                        ) from None

    @staticmethod
    def _append(path: str, out: IO[str]) -> None:
        out.flush()
        with open(path, "rb") as part:
            if sys.platform.startswith("linux"):  # file to file in the kernel
                dst, src = out.buffer.fileno(), part.fileno()  # type: ignore[attr-defined]
                size, offset = os.fstat(src).st_size, 0
                while offset < size:
                    offset += os.sendfile(dst, src, offset, size - offset)
            else:
                shutil.copyfileobj(part, out.buffer, 1 << 20)  # type: ignore[attr-defined]
                out.buffer.flush()  # type: ignore[attr-defined]
        os.unlink(path)

    def stop(self) -> None:
        """End every worker now (Ctrl-C or an error): nothing of theirs may outlive this call."""
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join()
        for q in (self.tasks, self.results):
            q.cancel_join_thread()  # do not wait to flush tasks no one will read
            q.close()
