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
import stat
from pathlib import Path

from ..language.names import graph_name
from .run_folder import RunFolder, RunFolderBusy, RunFolderError, RunWriteError

_WORKER_LOGS = ("worker-*.log", "chief-*.log")  # cluster.Cluster.name: worker-N, or chief-0 (TF_CONFIG)


def default_out_dir(spec) -> Path:
    """``runs/<spec file name without .yaml>``, or ``runs/<graph name>`` for specs from text."""
    return Path("runs") / run_title(spec)


def run_title(spec) -> str:
    """The spec file's name without ``.yaml``, or the graph name of a spec from text."""
    return Path(spec.file).stem if not spec.file.startswith("<") else graph_name(spec.name)


def guard_output(target: str | Path, spec_file: str | None = None) -> RunFolder:
    """Refuse output paths that would overwrite something that is not a run.

    Raises:
        RunFolderError: ``target`` is ``/``, ``.`` or ``..``, a file, the folder the spec file itself
            lives in as ``spec.yaml``, or a folder with other files in it (a folder of
            specs, a folder of runs) that is not a run folder.
    """
    path = Path(target)
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise RunFolderError(f"--out {target}: a run folder cannot be the filesystem root\n"
                             "  hint: pass a new folder, e.g. --out runs/my_run")
    if path.name in ("", ".", "..") or not str(target):
        shown = str(target) or "''"
        raise RunFolderError(f"--out {shown}: a run folder needs a name of its own: it trains beside it in "
                             f".<name>.partial and is renamed into place when it ends, which '{target}' cannot be\n"
                             "  hint: pass a new folder, e.g. --out runs/my_run")
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {target}: exists and is not a folder\n  hint: pass a new folder")
    folder = RunFolder(path)
    if spec_file and not spec_file.startswith("<") and Path(spec_file).resolve() == folder.spec_path.resolve():
        raise RunFolderError(f"--out {target}: the run would overwrite the spec file {spec_file} itself "
                             f"(a run folder's spec.yaml)\n  hint: copy the spec elsewhere or pass another --out")
    if path.is_dir() and not folder.holds_run():
        others = sorted(p.name for p in path.iterdir() if not any(p.match(log) for log in _WORKER_LOGS))
        if others:
            shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
            kind = "a folder of specs" if any(p.endswith((".yaml", ".yml")) for p in others) else "a folder"
            raise RunFolderError(f"--out {target}: is {kind} ({shown}), not a run folder; a run would replace it\n"
                                 "  hint: pass a new or empty folder, e.g. --out runs/my_run")
    return folder


def guard_tensorboard(tensorboard: str | Path | None, target: RunFolder) -> None:
    """Refuse a TensorBoard log folder whose logs would be lost or would land in a finished run.

    Raises:
        RunFolderError: ``tensorboard`` is ``target`` (or its ``.partial`` folder) or inside it,
            which publishing replaces, or is or is inside another folder holding a run.
    """
    if tensorboard is None:
        return
    logs = Path(tensorboard).resolve()
    for folder in (target.path.resolve(), target.partial.path.resolve()):
        if logs == folder or folder in logs.parents:
            where = "is" if logs == folder else "is inside"
            raise RunFolderError(f"--tensorboard {tensorboard}: {where} the run folder {target.path}, which is "
                                 "renamed into place when the run ends: the logs would be lost\n"
                                 f"  hint: pass a folder beside it, e.g. --tensorboard {target.path.parent / 'logs'}")
    for folder in (logs, *logs.parents):
        if RunFolder(folder).holds_run():
            raise RunFolderError(f"--tensorboard {tensorboard}: {folder} holds a run; TensorBoard's logs would be "
                                 "written into it\n  hint: pass a folder of its own, e.g. --tensorboard logs")


def check_worker_target(target: RunFolder, overwrite: bool) -> None:
    """Another worker of a multi-worker run writes its ``worker-<i>.log`` into ``target``:
    refuse when that holds an ended run (or one that does not read) and ``overwrite`` is not given.

    Raises:
        RunFolderError: a finished run without ``overwrite``.
    """
    if target.holds_run() and not overwrite:
        old = target.read_metrics()
        if old is None or old.is_final:
            what = f"a {old.status} run of {old.epochs} epoch(s)" if old else "a run whose metrics.json does not read"
            raise RunFolderError(f"{target.path}: holds {what}; this worker would write its log into it\n"
                                 "  hint: pass --overwrite (to every worker) to replace it once the new run has "
                                 "finished, or another --out")


def open_lock(path: Path) -> int:
    """Open (or create) a lock file without following a symbolic link, so that a link planted at
    ``path`` cannot make the lock's pid overwrite its target.

    Raises:
        RunFolderError: ``path`` is a symbolic link or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise RunFolderError(f"{path}: the lock file is a symbolic link, which fmnist-spec never makes; it is "
                             f"left as it is\n  hint: remove it (rm {path}) or pass another --out") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFolderError(f"{path}: the lock file is not a regular file\n  hint: remove it or pass another --out")
    return fd


def check_not_busy(target: RunFolder) -> None:
    """Refuse at once when another process holds ``target``'s lock (a probe: the lock is
    not kept). Lets a command refuse before it imports TensorFlow; :class:`Placement`
    takes the lock for real.

    Raises:
        RunFolderBusy: another process holds the lock.
    """
    if not os.path.lexists(target.lock_path):
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
            message = f"--out {self.target.path}: cannot write in {str(self.target.path.parent)!r}: {exc.strerror or exc}"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the work failed, not the input (exit 1)
                raise RunWriteError(message + "\n  hint: free some space and run the same command again") from None
            raise RunFolderError(message) from None
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
        fd = open_lock(self.target.lock_path)
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
        _recover_moved_backup(target)
        target.remove_temporaries()
        if adoptable(target) and not os.path.lexists(work.path):
            os.rename(target.path, work.path)  # an interrupted run of an older version lives in the target
        self.done_before = check_placement(target, self.resolved, resume=self.resume, overwrite=self.overwrite)
        if self.resume:
            self.done_before = self._check_backup()
            work.remove_temporaries()
            return
        shutil.rmtree(work.path, ignore_errors=True)  # stale: we hold the lock, nobody else writes it
        work.path.mkdir()

    def _check_backup(self) -> int:
        done = self.work.check_backup()
        epochs = self.resolved["fit"]["epochs"]
        if epochs < done:
            raise RunFolderError(f"{self.target.path}: fit.epochs is {epochs} but the interrupted run has already "
                                 f"finished {done} epoch(s)\n  hint: resume with fit.epochs >= {done}")
        return done

    def publish(self) -> None:
        """Move the ended run from ``.partial`` to the target: a rename over an absent or empty
        target, an atomic exchange with a run it replaces (then deleted). Worker logs already in
        the target move along first.

        The backup leaves the run before it is published, by one rename to
        ``.<name>.backup-<inode of .partial>`` beside it, so a published run never holds
        ``backup/``. A process killed between that rename and the publishing rename leaves the
        ``.partial`` folder with that inode: the next :class:`Placement` puts the backup back
        (:func:`_recover_moved_backup`) and ``--resume`` works as before; once published, the
        moved backup is stale and removed."""
        target, work = self.target.path, self.work.path
        if target.is_dir():
            for log in (found for pattern in _WORKER_LOGS for found in target.glob(pattern)):
                if not (work / log.name).exists():
                    os.rename(log, work / log.name)
        moved = _moved_backup_path(self.target, os.stat(work).st_ino)
        if self.work.backup_path.is_dir():
            os.rename(self.work.backup_path, moved)
        try:
            if not target.exists() or not any(target.iterdir()):
                os.rename(work, target)  # replaces an empty directory
            else:
                _exchange(work, target)
        except BaseException:  # not published (an error, Ctrl-C): the run stays resumable
            self.recover_backup()
            raise
        if os.path.lexists(work):
            shutil.rmtree(work, ignore_errors=True)  # the replaced run, now under the partial name
        shutil.rmtree(moved, ignore_errors=True)

    def recover_backup(self) -> None:
        """Put back a backup :meth:`publish` moved out of ``.partial`` if the run was not published."""
        _recover_moved_backup(self.target)


def _moved_backup_path(target: RunFolder, inode: int) -> Path:
    return target.path.parent / f".{target.path.name}.backup-{inode}"


def _recover_moved_backup(target: RunFolder) -> None:
    """Put back a backup :meth:`Placement.publish` moved out of ``.partial`` when the process died
    before the run was published (the ``.partial`` folder is still the one it came from); remove
    one whose run was published."""
    work = target.partial
    for moved in target.path.parent.glob(f".{target.path.name}.backup-*"):
        inode = moved.name.rsplit("-", 1)[1]
        if moved.is_symlink() or not moved.is_dir():
            continue  # not ours
        if (work.path.is_dir() and not work.path.is_symlink() and not os.path.lexists(work.backup_path)
                and inode.isdigit() and os.stat(work.path).st_ino == int(inode)):
            os.rename(moved, work.backup_path)
        else:
            shutil.rmtree(moved, ignore_errors=True)


def adoptable(target: RunFolder) -> bool:
    """True for an interrupted run of an older version, which waited in the target folder itself:
    a ``metrics.json`` that reads and says the run had not ended, and a ``backup/`` with Keras's
    ``training_metadata.json``. A finished run (or one whose ``metrics.json`` does not read) is
    never one, whatever else it holds (a ``backup/`` folder of the user's own, or one a killed
    process of an older version left)."""
    if target.path.is_symlink() or not target.path.is_dir() or not target.has_backup():
        return False
    metrics = target.read_metrics()
    return metrics is not None and not metrics.is_final and target.backed_up_epochs() > 0


def check_placement(target: RunFolder, resolved: dict, *, resume: bool, overwrite: bool) -> int:
    """Refuse what :class:`Placement` would refuse, reading only (no lock, nothing moved), so a
    command can refuse before it imports TensorFlow. Returns the epochs the interrupted run
    has finished (by its metadata; 0 without one).

    Raises:
        RunFolderError: ``.<name>.partial`` is not a folder; a finished run (or one whose
            ``metrics.json`` does not read) without ``overwrite``; an interrupted run without
            ``resume`` or ``overwrite``; ``resume`` with nothing to resume, a changed spec (the
            message names the first keys that differ), fewer epochs than finished, or a symbolic
            link inside the interrupted run.
    """
    work = target.partial
    _check_partial_is_a_folder(work)
    waiting = work if work.path.is_dir() else target if adoptable(target) else None
    interrupted = waiting is not None and waiting.has_backup()
    old = target.read_metrics() if target.holds_run() and waiting is not target else None
    if resume:
        if not interrupted:
            where = " (it holds a finished run)" if old is not None and old.is_final else ""
            raise RunFolderError(f"{target.path}: nothing to resume{where}: no interrupted run with a finished "
                                 f"epoch in {work.path}\n  hint: run without --resume to start again")
        _check_no_links(waiting)
        return _check_same_spec(target, waiting, resolved)
    if target.holds_run() and waiting is not target and not overwrite and (old is None or old.is_final):
        what = f"a {old.status} run of {old.epochs} epoch(s)" if old else "a run whose metrics.json does not read"
        raise RunFolderError(f"{target.path}: holds {what}\n"
                             "  hint: pass --overwrite to replace it once the new run has finished, or another --out")
    if interrupted and not overwrite:
        raise RunFolderError(f"{target.path}: an interrupted run ({waiting.backed_up_epochs()} epoch(s) finished) "
                             f"waits in {waiting.path}\n  hint: continue it with --resume, or start again with "
                             "--overwrite (discards it)")
    return 0


def _check_partial_is_a_folder(work: RunFolder) -> None:
    if os.path.lexists(work.path) and (work.path.is_symlink() or not work.path.is_dir()):
        kind = "a symbolic link" if work.path.is_symlink() else "a file"
        raise RunFolderError(f"{work.path}: is {kind}, not the folder fmnist-spec trains in; it is left as it is\n"
                             f"  hint: remove it (rm {work.path}) or pass another --out")


def _check_no_links(folder: RunFolder) -> None:
    """An interrupted run holds no symbolic link: one would redirect what the resumed run writes."""
    for directory, subfolders, files in os.walk(folder.path):
        for name in subfolders + files:
            path = Path(directory) / name
            if path.is_symlink():
                raise RunFolderError(f"{path}: a symbolic link inside the interrupted run; the resumed run would "
                                     f"write through it\n  hint: remove it, or start again with --overwrite "
                                     "(discards the interrupted run)")


def _check_same_spec(target: RunFolder, waiting: RunFolder, resolved: dict) -> int:
    previous = waiting.read_spec()
    if previous is None:
        raise RunFolderError(f"{waiting.path}: spec.yaml is missing, so the backup cannot be matched to a spec\n"
                             "  hint: start again with --overwrite (discards the interrupted run)")
    changed = differences(_comparable(previous), _comparable(resolved))
    if changed:
        shown = "; ".join(f"{key}: {before} then, {now} now" for key, before, now in changed[:3])
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        raise RunFolderError(f"{target.path}: the spec differs from the one the interrupted run started with "
                             f"({waiting.spec_path}): {shown}{more}\n  hint: resume with that spec, or start again "
                             "with --overwrite, or pass another --out")
    done, epochs = waiting.backed_up_epochs(), resolved["fit"]["epochs"]
    if epochs < done:
        raise RunFolderError(f"{target.path}: fit.epochs is {epochs} but the interrupted run has already "
                             f"finished {done} epoch(s)\n  hint: resume with fit.epochs >= {done} "
                             f"(--set fit.epochs={previous['fit']['epochs']})")
    return done


def differences(before, now, path: str = "") -> list[tuple[str, str, str]]:
    """The keys whose values differ between two resolved specs, as ``(dotted key, before, now)``
    with the values in JSON, in the order of ``before``'s keys (then ``now``'s new ones)."""
    if isinstance(before, dict) and isinstance(now, dict):
        found = []
        for key in list(before) + [k for k in now if k not in before]:
            where = f"{path}.{key}" if path else str(key)
            found += differences(before.get(key, _ABSENT), now.get(key, _ABSENT), where)
        return found
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        return [d for i, (a, b) in enumerate(zip(before, now)) for d in differences(a, b, f"{path}[{i}]")]
    if before == now:
        return []
    return [(path, _shown(before), _shown(now))]


_ABSENT = object()


def _shown(value) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _comparable(resolved: dict) -> dict:
    """The resolved spec without what may change on resume (epochs, verbosity, warning settings,
    thread pools)."""
    data = json.loads(json.dumps(resolved))
    data.get("fit", {}).pop("epochs", None)
    data.get("fit", {}).pop("verbose", None)
    data.pop("warnings", None)
    data.pop("threading", None)  # how work is scheduled, not what is computed
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
