"""Nothing escapes the run folder, nothing finished is lost ("Callbacks and outputs escape
or destroy"): adoption of a backup only for runs that provably had not ended, the backup moved
out before publishing, checkpoint paths checked after formatting, reserved names, braces in
--out, atomic checkpoints, locks and staging folders that follow no symbolic link, TensorBoard and
worker logs never inside a finished run, refusals before TensorFlow is imported."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from fmnist_spec import parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.files import write_json
from fmnist_spec.language.callback_checks import RUN_FOLDER_FILES, filepath_fields, rendered_filepaths
from fmnist_spec.language.spec import run_spec
from fmnist_spec.language.validation import check_source
from fmnist_spec.running.metrics import FINISHED, RUNNING, Metrics
from fmnist_spec.running.placement import (
    Placement,
    _moved_backup_path,
    check_not_busy,
    check_placement,
    guard_output,
    guard_tensorboard,
)
from fmnist_spec.running.run_folder import RunFolder, RunFolderError
from fmnist_spec.source.yaml_source import parse_text

TINY = ("spec_version: 1\nseed: 5\nlayers:\n  - {units: 8, activation: relu, input_shape: [784]}\n"
        "  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: 2, batch_size: 8, verbose: 0}\ndata: {flatten: true}\n")


def _tree(folder):
    """Every file under ``folder`` (relative path -> sha256), links included as their target text."""
    found = {}
    for directory, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                data = os.readlink(path).encode()
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
            found[os.path.relpath(path, folder)] = hashlib.sha256(data).hexdigest()
    return found


def _ended_run(folder, status=FINISHED, epochs=2):
    """A run folder as ``train`` leaves it: the resolved spec, log.csv and metrics.json with ``status``."""
    folder.mkdir(parents=True)
    run = RunFolder(folder)
    run.write_spec(run_spec(parse_spec(TINY)))
    run.log_path.write_text("epoch,accuracy,loss\n0,0.1,2.3\n1,0.2,2.2\n")
    run.write_metrics(Metrics(status=status, epochs=epochs, epochs_finished=epochs))
    return run


def _keras_backup(run, epoch=1):
    """``backup/`` as Keras's BackupAndRestore writes it (metadata; weights a real HDF5 file)."""
    import h5py

    run.backup_path.mkdir()
    with h5py.File(run.backup_path / "latest.weights.h5", "w") as fh:
        fh.create_group("layers")
    write_json(run.backup_path / "training_metadata.json", {"epoch": epoch})


# -- 1. a finished run holding backup/ is never taken for an interrupted one -------------------------


def test_a_finished_run_with_a_backup_folder_is_refused_not_moved(tmp_path):
    run = _ended_run(tmp_path / "r")
    _keras_backup(run)  # the user's own backup/, or one an older version left behind
    before = _tree(run.path)
    with pytest.raises(RunFolderError, match="holds a finished run"):
        Placement(run, run_spec(parse_spec(TINY))).__enter__()
    assert _tree(run.path) == before and not run.partial.path.exists()


def test_overwrite_of_a_finished_run_with_a_backup_folder_keeps_it_until_the_new_run_ends(tmp_path):
    run = _ended_run(tmp_path / "r")
    _keras_backup(run)
    before = _tree(run.path)
    with Placement(run, run_spec(parse_spec(TINY)), overwrite=True) as place:
        assert place.work.path == run.partial.path and not any(place.work.path.iterdir())
    # the re-run failed here (never published): the finished run is untouched
    assert _tree(run.path) == before


def test_an_interrupted_run_of_an_older_version_in_the_target_is_still_adopted(tmp_path):
    run = _ended_run(tmp_path / "r", status=RUNNING)
    _keras_backup(run)
    with Placement(run, run_spec(parse_spec(TINY)), resume=True) as place:
        assert place.done_before == 1
    assert not run.path.exists() and run.partial.backup_path.is_dir()


def test_publishing_never_puts_backup_into_the_run_and_a_kill_before_it_is_recovered(tmp_path):
    resolved = run_spec(parse_spec(TINY))
    target = RunFolder(tmp_path / "r")
    work = _ended_run(target.partial.path, status=RUNNING)
    _keras_backup(work)
    # killed between moving the backup out and publishing: the next process puts it back
    os.rename(work.backup_path, _moved_backup_path(target, os.stat(work.path).st_ino))
    with Placement(target, resolved, resume=True) as place:
        assert place.done_before == 1 and work.has_backup()
        place.publish()
    assert not target.backup_path.exists() and target.spec_path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.lock", "r"]


def test_ctrl_c_while_publishing_puts_the_backup_back_so_the_run_stays_resumable(tmp_path, monkeypatch):
    target = RunFolder(tmp_path / "r")
    work = _ended_run(target.partial.path, status=RUNNING)
    _keras_backup(work)
    rename = os.rename

    def interrupted_rename(source, destination):
        if str(destination) == str(target.path):
            raise KeyboardInterrupt
        return rename(source, destination)

    with Placement(target, run_spec(parse_spec(TINY)), resume=True) as place:
        monkeypatch.setattr(os, "rename", interrupted_rename)
        with pytest.raises(KeyboardInterrupt):
            place.publish()
        monkeypatch.setattr(os, "rename", rename)
    assert work.backed_up_epochs() == 1 and not target.path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.lock", ".r.partial"]


def test_a_backup_moved_out_of_a_run_that_was_then_published_is_removed(tmp_path):
    target = _ended_run(tmp_path / "r")
    stale = _moved_backup_path(target, 12345)
    stale.mkdir()
    (stale / "training_metadata.json").write_text('{"epoch": 1}')
    with Placement(target, run_spec(parse_spec(TINY)), overwrite=True):
        pass
    assert not stale.exists() and target.metrics_path.is_file()


# -- 2, 3, 4. a checkpoint's filepath, after formatting -------------------------------------------


def _errors(filepath, second=None, weights_only=False):
    callbacks = [(f"    - {{type: ModelCheckpoint, filepath: {json.dumps(filepath)}, save_best_only: true, "
                 f"save_weights_only: {str(weights_only).lower()}}}")]
    if second:
        callbacks.append(f"    - {{type: ModelCheckpoint, filepath: {json.dumps(second)}, save_best_only: true}}")
    text = TINY.replace("fit: {epochs: 2, batch_size: 8, verbose: 0}",
                        "fit:\n  epochs: 2\n  callbacks:\n" + "\n".join(callbacks))
    return [p for p in check_source(parse_text(text, "x.yaml"))[1] if p.severity == "error"]


@pytest.mark.parametrize("filepath, message, hint", [
    (".{epoch!s:.0}./a/model.keras", "converts the value to a string", "leave out !s"),
    ("{epoch!r}.keras", "converts the value to a string", "leave out !r"),
    ("..{epoch:/>2}.keras", "pads with '/'", "pad with 0"),
    ("m{epoch:.>3}.keras", "pads with '.'", "pad with 0"),
    ("m{epoch:c}.keras", "presentation type 'c'", "use one of"),
    ("m{epoch:q}.keras", "presentation type 'q'", "use one of"),
    ("m{val_loss:d}.keras", "presentation type 'd'", "use one of"),
    ("m{epoch:>1500000000}.keras", "width of 1,500,000,000 characters", "small width"),
    ("m{val_loss:.999}.keras", "precision of 999 characters", "small precision"),
    ("m{epoch:{epoch}}.keras", "nests a field", "fixed spec"),
    ("m{epoch.real}.keras", "attribute or item", "{epoch}"),
    ("m{}.keras", "positional field", "name a field"),
    ("ckpt-{epoch:02d}-{val_acc:.2f}.keras", "{val_acc} is not a key of the run's epoch logs", "did you mean val_accuracy?"),
    ("ckpt-{acc}.keras", "not a key", "did you mean accuracy?"),
    ("r{.keras", "not a valid format string", "{{ and }}"),
    ("../best.keras", "leaves the run folder", "relative to the run folder"),
    ("x/../model.keras", "goes up a folder with '..'", "without '..'"),
    ("learning_curves.png/x.keras", "a file the run folder already uses", "another name"),
    ("Model.keras", "a file the run folder already uses", "another name"),
    ("history.json/best.keras", "a file the run folder already uses", "another name"),
])
def test_a_filepath_keras_cannot_format_safely_is_an_error_at_it(filepath, message, hint):
    found = _errors(filepath)
    assert len(found) == 1, found
    assert found[0].path == "fit.callbacks[0].filepath" and (found[0].line, found[0].column) == (10, 41)
    assert message in found[0].message and hint in found[0].hint


@pytest.mark.parametrize("filepath", ["model.weights.h5", "y/../backup/latest.weights.h5", "backup/x.weights.h5"])
def test_weights_checkpoints_named_like_the_runs_own_files_are_errors(filepath):
    found = _errors(filepath, weights_only=True)
    assert len(found) == 1 and found[0].path == "fit.callbacks[0].filepath", found


@pytest.mark.parametrize("first, second", [("a.keras", "./a.keras"), ("a.keras", "A.keras"),
                                           ("a.keras", "a.keras/b.keras"), ("m-{epoch}.keras", "m-{epoch:d}.keras"),
                                           ("caf\u00e9.keras", "cafe\u0301.keras")])
def test_two_checkpoints_that_name_one_file_or_a_folder_of_the_other_are_an_error(first, second):
    found = _errors(first, second)
    assert [p.path for p in found] == ["fit.callbacks[1].filepath"] and "overwrite each other" in found[0].message


@pytest.mark.parametrize("filepath", ["best.keras", "ckpt/m-{epoch:03d}-{val_loss:.4f}.keras",
                                      "m-{epoch}-{val_accuracy:.2%}.keras", "{{literal}}.keras"])
def test_filepaths_keras_formats_safely_pass(filepath):
    assert _errors(filepath) == []


def test_the_reserved_names_are_every_file_a_run_folder_has():
    assert set(RUN_FOLDER_FILES) == set(RunFolder.FILES) | {RunFolder.BACKUP}


def test_formatted_samples_are_what_keras_formats():
    spec = {"compile": {"metrics": ["accuracy"]}, "fit": {"validation_freq": 1, "callbacks": []}}
    fields = filepath_fields(spec)
    assert fields == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert rendered_filepaths("m-{epoch:03d}-{val_loss:.2f}.keras", fields)[:2] == ["m-001-0.50.keras",
                                                                                   "m-010-12.25.keras"]


# -- 2. braces in --out and formatted checkpoint names, trained ---------------------------------


def test_braces_in_out_are_the_folders_own_name_and_the_checkpoint_lands_inside(tiny_data_dir, tmp_path):
    spec = parse_spec(TINY.replace("fit: {epochs: 2, batch_size: 8, verbose: 0}",
                                   "fit:\n  epochs: 2\n  batch_size: 8\n  verbose: 0\n  callbacks:\n"
                                   "    - {type: ModelCheckpoint, filepath: 'ckpt/m-{epoch:02d}.keras'}\n"
                                   "warnings: {ignore: [checkpoint-every-epoch]}\n"))
    out = tmp_path / "r{epoch}{"
    train(spec, out=out, data_dir=tiny_data_dir)
    assert sorted(p.name for p in (out / "ckpt").iterdir()) == ["m-01.keras", "m-02.keras"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r{epoch}{.lock", "fashion", "r{epoch}{"]


# -- 5. checkpoints are written whole or not at all ------------------------------------------------


def _cut_short_save(model, monkeypatch):
    """Make ``model.save`` write half a file and then be interrupted (Ctrl-C during the save)."""
    def save(path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", save)


def _small_model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse")
    return model


def test_a_save_cut_short_leaves_no_checkpoint_under_its_name(tmp_path, monkeypatch):
    from fmnist_spec.to_keras.compat import atomic_model_checkpoint

    model = _small_model()
    checkpoint = atomic_model_checkpoint(filepath=str(tmp_path / "best.keras"))
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_loss": 1.0})  # a whole first checkpoint
    first = (tmp_path / "best.keras").read_bytes()
    _cut_short_save(model, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(1, {"val_loss": 0.5})
    assert (tmp_path / "best.keras").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]


def test_the_spec_checkpoint_is_the_atomic_one(tmp_path):
    from fmnist_spec.to_keras.builder import make_callbacks

    spec = parse_spec(TINY.replace("fit: {epochs: 2, batch_size: 8, verbose: 0}",
                                   "fit:\n  callbacks: [{type: ModelCheckpoint, filepath: b.keras, "
                                   "save_best_only: true}]"))
    made = make_callbacks(spec, tmp_path)[0]
    assert type(made).__name__ == "AtomicModelCheckpoint" and made.filepath == str(tmp_path / "b.keras")


def test_resume_removes_a_killed_saves_temporary_file_in_a_checkpoint_folder(tmp_path):
    target = RunFolder(tmp_path / "r")
    work = _ended_run(target.partial.path, status=RUNNING)
    _keras_backup(work)
    (work.path / "ckpt").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = work.path / "ckpt" / f".best.keras.tmp-{dead}-abc.keras"
    stale.write_bytes(b"PK half")
    with Placement(target, run_spec(parse_spec(TINY)), resume=True):
        assert not stale.exists()


# -- 6. locks and staging folders ----------------------------------------------------------------


def test_a_symlink_planted_as_the_lock_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = RunFolder(tmp_path / "runs" / "r")
    target.path.parent.mkdir()
    os.symlink(victim, target.lock_path)
    for attempt in (lambda: check_not_busy(target),
                    lambda: Placement(target, run_spec(parse_spec(TINY))).__enter__()):
        with pytest.raises(RunFolderError, match="symbolic link"):
            attempt()
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_stale_partial_that_is_not_a_folder_is_refused_with_exit_2(kind, tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY)
    partial = tmp_path / ".r.partial"
    if kind == "file":
        partial.write_text("not a folder")
    else:
        (tmp_path / "elsewhere").mkdir()
        os.symlink(tmp_path / "elsewhere", partial)
    assert main(["train", str(spec), "--out", str(tmp_path / "r"), "--data-dir", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert f"{partial}: is a {'file' if kind == 'file' else 'symbolic link'}" in err and "Traceback" not in err
    assert partial.is_symlink() or partial.read_text() == "not a folder"


def test_resume_refuses_a_symlink_inside_the_interrupted_run(tmp_path):
    target = RunFolder(tmp_path / "r")
    work = _ended_run(target.partial.path, status=RUNNING)
    _keras_backup(work)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", work.path / "ckpt")
    with pytest.raises(RunFolderError, match="symbolic link inside the interrupted run"):
        check_placement(target, run_spec(parse_spec(TINY)), resume=True, overwrite=False)


# -- 7. TensorBoard and worker logs --------------------------------------------------------------


def test_tensorboard_inside_the_run_folder_or_another_run_is_refused(tmp_path):
    target = RunFolder(tmp_path / "r")
    other = _ended_run(tmp_path / "a")
    for logs, message in [(target.path, "logs would be lost"), (target.path / "tb", "logs would be lost"),
                          (other.path, "holds a run"), (other.path / "tb", "holds a run")]:
        with pytest.raises(RunFolderError, match=message):
            guard_tensorboard(logs, target)
    guard_tensorboard(tmp_path / "logs", target)  # a folder of its own is fine


def test_tensorboard_equal_to_out_exits_2_before_training(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY)
    pytest.importorskip("tensorboard")
    assert main(["train", str(spec), "--out", str(tmp_path / "r"), "--tensorboard", str(tmp_path / "r"),
                 "--data-dir", "/nonexistent"]) == 2
    assert "the logs would be lost" in capsys.readouterr().err


def test_another_worker_never_writes_its_log_into_a_finished_run(tmp_path):
    run = _ended_run(tmp_path / "r")
    before = _tree(run.path)
    spec = parse_spec(TINY + "distribute: {strategy: multi_worker_mirrored, "
                             "workers: ['localhost:1', 'localhost:2'], worker_index: 1}\n")
    with pytest.raises(RunFolderError, match="this worker would write its log into it"):
        train(spec, out=run.path, data_dir="/nonexistent")
    assert _tree(run.path) == before


# -- train --out ., --resume's message, refusals before TensorFlow ------------------------------


@pytest.mark.parametrize("out", [".", "..", "./"])
def test_out_naming_the_current_or_parent_folder_exits_2_before_training(out, tmp_path, monkeypatch, capsys):
    work = tmp_path / "empty" / "here"
    work.mkdir(parents=True)
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY)
    monkeypatch.chdir(work)
    assert main(["train", str(spec), "--out", out, "--data-dir", "/nonexistent"]) == 2
    assert "needs a name of its own" in capsys.readouterr().err
    assert list(work.iterdir()) == [] and sorted(p.name for p in work.parent.iterdir()) == ["here"]


def test_a_refused_resume_names_the_keys_that_differ_and_threading_may_change(tmp_path):
    target = RunFolder(tmp_path / "r")
    work = _ended_run(target.partial.path, status=RUNNING)
    _keras_backup(work)
    changed = run_spec(parse_spec(TINY.replace("units: 8", "units: 16").replace("optimizer: adam", "optimizer: sgd")))
    with pytest.raises(RunFolderError) as refused:
        check_placement(target, changed, resume=True, overwrite=False)
    assert "layers[0].units: 8 then, 16 now" in str(refused.value)
    assert 'compile.optimizer: "adam" then, "sgd" now' in str(refused.value)
    threads = run_spec(parse_spec(TINY + "threading: {intra_op_parallelism_threads: 2}\n"))
    assert check_placement(target, threads, resume=True, overwrite=False) == 1


def test_a_finished_run_is_refused_before_tensorflow_is_imported(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY)
    _ended_run(tmp_path / "r")
    code = ("import sys\nfrom fmnist_spec.cli import main\n"
            f"status = main(['train', {str(spec)!r}, '--out', {str(tmp_path / 'r')!r}])\n"
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert "holds a finished run of 2 epoch(s)" in done.stderr and "--overwrite" in done.stderr


def test_a_chiefs_log_is_a_workers_log_to_the_run_folder(tmp_path):
    """A cluster with a chief task (TF_CONFIG) names the chief's log chief-0.log: the folder it logs
    into is the run's, not 'a folder' to refuse, and publishing moves that log into the run."""
    target = tmp_path / "r"
    target.mkdir()
    (target / "chief-0.log").write_text("starting\n")
    (target / "worker-1.log").write_text("starting\n")
    guard_output(target)  # no RunFolderError
    (target / "notes.txt").write_text("mine\n")
    with pytest.raises(RunFolderError, match="notes.txt"):
        guard_output(target)


def test_a_full_disk_when_the_run_folder_is_made_is_a_failed_work_not_bad_input(tmp_path, monkeypatch, capsys):
    """ENOSPC making the run's folder was RunFolderError (exit 2, bad input); it is the disk's
    state, not the user's input: RunWriteError, exit 1, with the hint to free space."""
    import errno as errno_codes

    from fmnist_spec.cli.main import exit_status_of
    from fmnist_spec.running.run_folder import RunWriteError

    def full(self, *args, **kwargs):
        raise OSError(errno_codes.ENOSPC, "No space left on device")

    monkeypatch.setattr("pathlib.Path.mkdir", full)
    with pytest.raises(RunWriteError, match="No space left on device") as failed:
        with Placement(RunFolder(tmp_path / "runs" / "r"), {"spec_version": 1}):
            pass
    assert exit_status_of(failed.value) == 1 and "free some space" in str(failed.value)
