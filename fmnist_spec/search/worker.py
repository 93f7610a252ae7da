"""A worker process of ``fmnist-spec search --workers N``: ``python -m fmnist_spec.search.worker``
reads ``(spec, WorkerSettings)`` pickled on stdin (written by :func:`fmnist_spec.search.run._run_workers`,
its parent) and runs :func:`fmnist_spec.search.loop.work`.

Exit status: 0 done, 1 the work failed (the error on stderr), 130 Ctrl-C (SIGINT, forwarded by the parent).
"""

from __future__ import annotations

import pickle
import sys


def end_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGINT when its parent ends (``prctl(PR_SET_PDEATHSIG)``,
    Linux): a parent killed by SIGTERM, SIGHUP or SIGKILL left its workers training the study alone
    in the background. SIGINT is Ctrl-C to the worker: its trial is ended and enqueued again."""
    import ctypes
    import ctypes.util
    import os
    import signal

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, int(signal.SIGINT), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the worker ends when it next finds the study complete
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os.kill(os.getpid(), signal.SIGINT)


def main() -> int:
    from .loop import work

    try:
        if len(sys.argv) > 1:
            end_with_parent(int(sys.argv[1]))
        spec, settings = pickle.load(sys.stdin.buffer)  # from the parent process only
    except KeyboardInterrupt:
        return 130
    try:
        stream = sys.stderr if settings.lines_to_stderr else sys.stdout
        work(spec, settings, echo=lambda line: print(line, file=stream, flush=True))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001  (any error: said on stderr, the parent reports the status)
        if type(exc).__name__ == "TrainingInterrupted":
            return 130
        hint = getattr(exc, "hint", "")
        print(f"error: worker {settings.index}: {exc}" + (f"\n  hint: {hint}" if hint else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from ..to_keras.compat import fast_exit

    fast_exit(main())
