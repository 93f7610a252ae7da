"""Where a run is built and how it replaces what was there: never losing a finished run.

A run trains in ``<parent>/.<name>.partial/`` (:attr:`RunFolder.partial`, on the
same filesystem as the target) and is moved into place with one ``rename`` only
when it has ended (``finished`` or ``nan_loss``). A finished run already in the
target is replaced only with ``overwrite``, and then by an atomic exchange
(``renameat2(RENAME_EXCHANGE)``) after the new run is complete, so a failed,
interrupted or killed re-run leaves it byte-identical. One process at a time
works on a target: it holds ``fcntl.flock`` on ``<parent>/.<name>.lock`` for
the whole run, and a second one is refused at once (:class:`RunFolderBusy`).
Imports no TensorFlow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import json
import os
import shutil
from pathlib import Path

from .run_folder import RunFolder, RunFolderBusy, RunFolderError

_WORKER_LOG = "worker-*.log"


def guard_output(target: str | Path, spec_file: str | None = None) -> RunFolder:
    """Refuse output paths that would overwrite something that is not a run.

    Raises:
        RunFolderError: ``target`` is ``/``, a file, the folder the spec file itself
            lives in as ``spec.yaml``, or a folder with other files in it (a folder of
            specs, a folder of runs) that is not a run folder.
    """
    path = Path(target)
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise RunFolderError(f"--out {target}: a run folder cannot be the filesystem root\n"
                             "  hint: pass a new folder, e.g. --out runs/my_run")
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {target}: exists and is not a folder\n  hint: pass a new folder")
    folder = RunFolder(path)
    if spec_file and not spec_file.startswith("<") and Path(spec_file).resolve() == folder.spec_path.resolve():
        raise RunFolderError(f"--out {target}: the run would overwrite the spec file {spec_file} itself "
                             f"(a run folder's spec.yaml)\n  hint: copy the spec elsewhere or pass another --out")
    if path.is_dir() and not folder.holds_run():
        others = sorted(p.name for p in path.iterdir() if not p.match(_WORKER_LOG))
        if others:
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            kind = "a folder of specs" if any(p.endswith((".yaml", ".yml")) for p in others) else "a folder"
            raise RunFolderError(f"--out {target}: is {kind} ({shown}), not a run folder; a run would replace it\n"
                                 "  hint: pass a new or empty folder, e.g. --out runs/my_run")
    return folder


def check_not_busy(target: RunFolder) -> None:
    """Refuse at once when another process holds ``target``'s lock (a probe: the lock is
    not kept). Lets a command refuse before it imports TensorFlow; :class:`Placement`
    takes the lock for real.

    Raises:
        RunFolderBusy: another process holds the lock.
    """
    if not target.lock_path.exists():
        return
    probe = Placement(target, {})
    try:
        probe._acquire()
    except OSError:
        return  # unreadable lock file: Placement reports it when it takes the lock
    probe._release()


class Placement:
    """Hold a target's lock and get its ``.partial`` folder ready; :meth:`publish` moves it into place.

    Args:
        target: The run folder asked for (``--out``).
        resolved: The resolved spec this run records.
        resume: Continue the interrupted run in the partial folder.
        overwrite: Replace a finished run in ``target`` (only once the new run has ended).

    After ``with Placement(...) as place``: ``place.work`` is the :class:`RunFolder`
    to write, ``place.done_before`` the epochs already done (resume).

    Raises (on entering):
        RunFolderBusy: another process holds the lock.
        RunFolderError: a finished run without ``overwrite``; an interrupted run
            without ``resume`` or ``overwrite``; ``resume`` with nothing to resume,
            a changed spec, fewer epochs than already finished, or a damaged backup.
    """

    def __init__(self, target: RunFolder, resolved: dict, *, resume: bool = False, overwrite: bool = False):
        self.target, self.work = target, target.partial
        self.resolved, self.resume, self.overwrite = resolved, resume, overwrite
        self.done_before = 0
        self._lock = None

    def __enter__(self) -> Placement:
        try:
            self.target.path.parent.mkdir(parents=True, exist_ok=True)
            self._acquire()
        except OSError as exc:
            raise RunFolderError(f"--out {self.target.path}: cannot write in "
                                 f"{str(self.target.path.parent)!r}: {exc.strerror or exc}") from None
        try:
            self._prepare()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    def _acquire(self) -> None:
        """``flock`` the lock file, or :class:`RunFolderBusy` at once naming the holder's pid."""
        fd = os.open(self.target.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise RunFolderBusy(f"--out {self.target.path}: another fmnist-spec process (pid {holder}) is training "
                                f"into this run folder\n  hint: wait for it to end, or pass another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def _prepare(self) -> None:
        target, work = self.target, self.work
        self.target.remove_temporaries()
        self._adopt_old_interrupted_run()
        old = target.read_metrics() if target.holds_run() else None
        interrupted = work.has_backup()
        if self.resume:
            if not interrupted:
                where = " (it holds a finished run)" if old is not None and old.is_final else ""
                raise RunFolderError(f"{target.path}: nothing to resume{where}: no interrupted run with a finished "
                                     f"epoch in {work.path}\n  hint: run without --resume to start again")
            self.done_before = self._check_resumable()
            work.remove_temporaries()
            return
        if old is not None and old.is_final and not self.overwrite:
            raise RunFolderError(f"{target.path}: holds a {old.status} run of {old.epochs} epoch(s)\n"
                                 "  hint: pass --overwrite to replace it once the new run has finished, "
                                 "or another --out")
        if interrupted and not self.overwrite:
            raise RunFolderError(f"{target.path}: an interrupted run ({work.backed_up_epochs()} epoch(s) finished) "
                                 f"waits in {work.path}\n  hint: continue it with --resume, or start again with "
                                 "--overwrite (discards it)")
        shutil.rmtree(work.path, ignore_errors=True)  # stale: we hold the lock, nobody else writes it
        work.path.mkdir()

    def _adopt_old_interrupted_run(self) -> None:
        """An interrupted run of an older version lives in the target itself: move it to ``.partial``."""
        if self.target.has_backup() and not self.work.path.exists():
            os.rename(self.target.path, self.work.path)

    def _check_resumable(self) -> int:
        work, epochs = self.work, self.resolved["fit"]["epochs"]
        previous = work.read_spec()
        if previous is None:
            raise RunFolderError(f"{work.path}: spec.yaml is missing, so the backup cannot be matched to a spec\n"
                                 "  hint: start again with --overwrite (discards the interrupted run)")
        if _comparable(previous) != _comparable(self.resolved):
            raise RunFolderError(f"{self.target.path}: the spec differs from the one the interrupted run started "
                                 f"with ({work.spec_path})\n  hint: resume with that spec, or start again "
                                 "with --overwrite, or pass another --out")
        done = work.check_backup()
        if epochs < done:
            raise RunFolderError(f"{self.target.path}: fit.epochs is {epochs} but the interrupted run has already "
                                 f"finished {done} epoch(s)\n  hint: resume with fit.epochs >= {done} "
                                 f"(--set fit.epochs={previous['fit']['epochs']})")
        return done

    def publish(self) -> None:
        """Move the ended run from ``.partial`` to the target: a rename over an absent or empty
        target, an atomic exchange with a run it replaces (then deleted). Worker logs already in
        the target move along first."""
        target, work = self.target.path, self.work.path
        if target.is_dir():
            for log in target.glob(_WORKER_LOG):
                if not (work / log.name).exists():
                    os.rename(log, work / log.name)
        if not target.exists() or not any(target.iterdir()):
            os.rename(work, target)  # replaces an empty directory
            return
        _exchange(work, target)
        shutil.rmtree(work, ignore_errors=True)  # the replaced run, now under the partial name


def _comparable(resolved: dict) -> dict:
    """The resolved spec without what may change on resume (epochs, verbosity, warning settings)."""
    data = json.loads(json.dumps(resolved))
    data.get("fit", {}).pop("epochs", None)
    data.get("fit", {}).pop("verbose", None)
    data.pop("warnings", None)
    return data


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``, glibc 2.28+);
    elsewhere: ``b`` -> ``b.old``, ``a`` -> ``b``, ``b.old`` -> ``a`` (both stay on disk throughout)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(code, os.strerror(code), str(b))
    old = b.with_name(f"{b.name}.old-{os.getpid()}")
    os.rename(b, old)
    os.rename(a, b)
    os.rename(old, a)
