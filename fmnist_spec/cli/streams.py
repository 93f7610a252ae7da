"""Output channels that never raise, and a quiet TensorFlow start-up.

:func:`safe_streams` puts :class:`SafeStream` wrappers in ``sys.stdout`` and
``sys.stderr`` for the length of a command, so nothing that prints (our
reporters, Keras's progress bar, a library's ``print``) can get an exception
from a closed or broken output channel:

* a channel closed before the start (``>&-``: Python sets ``sys.stdout`` to
  None) swallows what is written; its file descriptor is pointed at
  ``/dev/null`` first, so no file opened later can take descriptor 1 or 2
  and receive C++ log lines or Python text;
* a write or flush that fails (``BrokenPipeError`` when the reader of a pipe
  went away, ``OSError`` such as ``ENOSPC`` on ``/dev/full``) is swallowed
  and remembered in :attr:`SafeStream.lost`; the descriptor is then pointed
  at ``/dev/null`` so the interpreter's own flush at exit cannot fail again
  (as in the "Note on SIGPIPE" of Python's :mod:`signal` documentation);
* text the channel's encoding cannot show (``PYTHONIOENCODING=ascii`` and the
  model name ``패션 MNIST 모델``) is written with ``backslashreplace``
  escapes (``\\ud328``) instead of raising ``UnicodeEncodeError``.

:func:`fmnist_spec.to_keras.compat.import_tensorflow_quietly` imports TensorFlow with file descriptor 2
sent to a temporary file, then copies back to stderr every line except the
known start-up notices (absl's "before absl::InitializeLog()" warning,
oneDNN's "custom operations are on" and ``cpu_feature_guard``'s instruction
list), which TensorFlow 2.21 prints from C++ at import even with
``TF_CPP_MIN_LOG_LEVEL=2`` (absl writes messages below its threshold while
it is not initialised: abseil/abseil-cpp#1718, grpc/grpc#37178).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


def _to_devnull(fd: int) -> None:
    """Point file descriptor ``fd`` at ``/dev/null`` (for writing)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        if null != fd:
            os.dup2(null, fd)
    finally:
        if null != fd:
            os.close(null)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class SafeStream(io.TextIOBase):
    """A text stream over ``stream`` (or over nothing, when it is None) whose
    ``write`` and ``flush`` never raise.

    Attributes:
        lost: The ``OSError`` that made output go missing, or None. A stream
            over nothing records a ``BrokenPipeError``-free ``OSError`` saying
            the channel was closed, at the first write.
    """

    def __init__(self, stream, name: str):
        super().__init__()
        self._stream = stream
        self.name = name
        self.lost: OSError | None = None

    # --- what callers use
    def write(self, text: str) -> int:
        if self.lost is None and self._stream is None and text:
            self.lost = OSError(f"{self.name} is closed")
        if self.lost is not None or not text:
            return len(text)
        try:
            return self._write(text)
        except OSError as exc:  # BrokenPipeError, ENOSPC, EIO ...
            self._lose(exc)
        except ValueError as exc:  # "I/O operation on closed file"
            self._lose(OSError(str(exc)))
        return len(text)

    def flush(self) -> None:
        if self.lost is not None or self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            self._lose(exc)
        except ValueError as exc:
            self._lose(OSError(str(exc)))

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self.lost is None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation(f"{self.name} is closed")
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        return "backslashreplace"

    def __getattr__(self, name):  # buffer, reconfigure, line_buffering ... of the real stream
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)

    # --- inside
    def _write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except UnicodeEncodeError:
            encoding = self.encoding
            shown = text.encode(encoding, "backslashreplace").decode(encoding)
            self._stream.write(shown)
            return len(text)

    def _lose(self, exc: OSError) -> None:
        self.lost = exc
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            _to_devnull(self._stream.fileno())  # the buffered rest then flushes into /dev/null


@contextlib.contextmanager
def safe_streams():
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`SafeStream` wrappers.

    Yields:
        (stdout wrapper, stderr wrapper); read their :attr:`SafeStream.lost`
        after the work to know whether output went missing.
    """
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        if stream is None and not _is_open(fd):
            _to_devnull(fd)
    saved = sys.stdout, sys.stderr
    out, err = SafeStream(sys.stdout, "stdout"), SafeStream(sys.stderr, "stderr")
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved
