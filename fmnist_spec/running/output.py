"""Progress output that can fail without stopping training.

Keras's progress bar and the epoch lines go to ``sys.stdout``. When its reader
has gone (``train ... | head -1``: ``BrokenPipeError``), the device is full
(``> /dev/full``: ``OSError: [Errno 28]``) or the stream is closed
(``ValueError``), a write must not end a run that is otherwise fine.
:func:`guarded_stdout` swallows such errors and remembers that output was lost,
so the caller can finish the run and still report the failure honestly.
"""

from __future__ import annotations

import contextlib
import sys


class GuardedStream:
    """A text stream whose ``write`` and ``flush`` never raise; ``lost`` tells whether one failed."""

    def __init__(self, stream):
        self._stream = stream
        self.lost = stream is None

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self.lost = True
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.lost = True

    def isatty(self) -> bool:
        try:
            return not self.lost and self._stream.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def guarded_stdout():
    """Replace ``sys.stdout`` by a :class:`GuardedStream` for the block; yields it."""
    original = sys.stdout
    guard = GuardedStream(original)
    sys.stdout = guard
    try:
        yield guard
    finally:
        sys.stdout = original
