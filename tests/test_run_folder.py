"""Never lose a finished run: staging folder, atomic publish, lock, output-path guards,
stdout failures, a full disk, resume checks (docs/run-folder.md)."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from fmnist_spec import parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.files import remove_stale_temporaries
from fmnist_spec.running.metrics import Metrics
from fmnist_spec.running.output import GuardedStream
from fmnist_spec.running.run_folder import RunFolder, RunFolderError, RunWriteError

TINY = ("spec_version: 1\nseed: 5\nlayers:\n  - {units: 8, activation: relu, input_shape: [784]}\n"
        "  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: EPOCHS, batch_size: 8, verbose: 2}\ndata: {flatten: true}\n")
SLOW = ("spec_version: 1\nseed: 3\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 64, activation: relu}\n  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: EPOCHS, batch_size: 32, verbose: 2}\ndata: {train_samples: 4000}\n")


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _spec_file(tmp_path, text=TINY, epochs=2, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text.replace("EPOCHS", str(epochs)))
    return path


def _start(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "fmnist_spec", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def finished(tiny_data_dir, tmp_path):
    spec = _spec_file(tmp_path)
    assert main(["train", str(spec), "--out", str(tmp_path / "r1"), "--data-dir", str(tiny_data_dir)]) == 0
    return spec, tmp_path / "r1", _hashes(tmp_path / "r1")


def test_a_failed_rerun_leaves_the_finished_run_byte_identical(finished, tmp_path, capsys):
    spec, out, before = finished
    assert sorted(before) == sorted(RunFolder.FILES)
    args = ["train", str(spec), "--out", str(out), "--data-dir", "/nonexistent"]
    assert main(args) == 2  # a finished run is not replaced without --overwrite, before any work
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 1  # the data are missing: the work fails
    assert "no such directory" in capsys.readouterr().err
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r1.lock", "fashion", "r1", "s.yaml"]


def test_overwrite_replaces_a_finished_run_only_once_the_new_one_finished(finished, tiny_data_dir, tmp_path):
    spec, out, before = finished
    spec.write_text(spec.read_text().replace("seed: 5", "seed: 6"))
    assert main(["train", str(spec), "--out", str(out), "--data-dir", str(tiny_data_dir), "--overwrite"]) == 0
    after = _hashes(out)
    assert sorted(after) == sorted(before) and after["spec.yaml"] != before["spec.yaml"]
    assert not (tmp_path / ".r1.partial").exists()


def test_a_killed_rerun_leaves_the_finished_run_byte_identical(real_data, tmp_path):
    spec = _spec_file(tmp_path, SLOW, epochs=1)
    out = tmp_path / "run"
    first = _start("train", spec, "--out", out)
    assert first.wait(timeout=300) == 0, first.communicate()
    before = _hashes(out)
    spec.write_text(SLOW.replace("EPOCHS", "30"))
    again = _start("train", spec, "--out", out, "--overwrite")
    deadline = time.monotonic() + 120
    while not (tmp_path / ".run.partial" / "backup" / "training_metadata.json").is_file():
        assert time.monotonic() < deadline and again.poll() is None, again.communicate()
        time.sleep(0.05)
    again.kill()
    again.wait(timeout=30)
    assert _hashes(out) == before


def test_a_second_train_into_the_same_folder_is_refused_at_once(real_data, tmp_path):
    spec = _spec_file(tmp_path, SLOW, epochs=8)  # long enough that the second starts while the first trains
    out = tmp_path / "run"
    first = _start("train", spec, "--out", out)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / ".run.partial").is_dir():
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.05)
        began = time.monotonic()
        second = _start("train", spec, "--out", out)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert "another fmnist-spec process" in err and f"pid {first.pid}" in err and "Traceback" not in err
        assert "Epoch" not in err and time.monotonic() - began < 60
        assert first.wait(timeout=300) == 0, first.communicate()
    finally:
        if first.poll() is None:
            first.kill()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_finished"] == 8
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 8


def test_train_into_head_finishes_the_run_and_exits_non_zero(tiny_data_dir, tmp_path):
    spec = _spec_file(tmp_path, epochs=6)
    out = tmp_path / "run"
    command = (f"{sys.executable} -m fmnist_spec train {spec} --out {out} --data-dir {tiny_data_dir} | head -1;"
               " echo status=${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.stdout.splitlines()[-1] == "status=1", done.stderr
    assert "Traceback" not in done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_finished"] == 6
    assert (out / "model.keras").is_file()


def test_stdout_write_errors_are_swallowed_and_remembered(tiny_data_dir, tmp_path, monkeypatch):
    class Broken:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise OSError(28, "No space left on device")

        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdout", Broken())
    result = train(parse_spec(TINY.replace("EPOCHS", "3")), out=tmp_path / "run", data_dir=tiny_data_dir)
    assert result.output_lost and result.metrics.status == "finished" and result.metrics.epochs_finished == 3
    assert (tmp_path / "run" / "model.keras").is_file()
    guard = GuardedStream(None)
    assert guard.write("x") == 1 and guard.lost


@pytest.mark.parametrize("where, message", [
    ("/", "cannot be the filesystem root"),
    ("specs", "is a folder of specs"),
])
def test_outputs_never_land_in_root_or_a_folder_of_specs(tmp_path, where, message):
    out = "/" if where == "/" else ROOT / "specs"
    before = sorted(p.name for p in (ROOT / "specs").iterdir())
    with pytest.raises(RunFolderError, match=message):
        train(parse_spec(TINY.replace("EPOCHS", "1")), out=out, data_dir="/nonexistent")
    assert sorted(p.name for p in (ROOT / "specs").iterdir()) == before
    assert not (ROOT / ".specs.lock").exists() and not (ROOT / ".specs.partial").exists()


def test_a_spec_inside_its_run_folder_is_never_overwritten(tiny_data_dir, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    spec = _spec_file(folder, name="spec.yaml")
    text = spec.read_text()
    assert main(["train", str(spec), "--out", str(folder), "--data-dir", str(tiny_data_dir)]) == 2
    assert "would overwrite the spec file" in capsys.readouterr().err
    assert spec.read_text() == text and sorted(p.name for p in folder.iterdir()) == ["spec.yaml"]


def test_resume_with_fewer_epochs_than_finished_is_refused(tiny_data_dir, tmp_path, monkeypatch):
    import fmnist_spec.running.run_folder as run_folder_module
    from fmnist_spec.running.train import TrainingInterrupted

    spec = parse_spec(TINY.replace("EPOCHS", "3").replace("verbose: 2", "verbose: 0"))
    monkeypatch.setattr(run_folder_module, "save_model", lambda model, path: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(TrainingInterrupted):
        train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    monkeypatch.undo()
    from dataclasses import replace

    with pytest.raises(RunFolderError, match=r"fit.epochs is 1 but the interrupted run has already finished 3"):
        train(replace(spec, epochs=1), out=tmp_path / "run", data_dir=tiny_data_dir, resume=True)
    assert train(spec, out=tmp_path / "run", data_dir=tiny_data_dir, resume=True).metrics.epochs_finished == 3


def test_ctrl_c_before_the_first_epoch_is_not_resumable_and_keeps_nothing(tiny_data_dir, tmp_path, monkeypatch):
    import fmnist_spec.running.fit as fit_module
    from fmnist_spec.running.train import TrainingInterrupted

    monkeypatch.setattr(fit_module, "_build", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(TrainingInterrupted) as stopped:
        train(parse_spec(TINY.replace("EPOCHS", "2")), out=tmp_path / "run", data_dir=tiny_data_dir)
    assert not stopped.value.resumable and stopped.value.epochs_finished == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "fashion"]


def test_ctrl_c_between_the_first_backups_weights_and_its_metadata_is_not_resumable(tiny_data_dir, tmp_path,
                                                                                    monkeypatch):
    """Keras writes latest.weights.h5, then training_metadata.json: a Ctrl-C between the two
    in epoch 1 leaves a backup no resume can use, so no resume command may be offered."""
    import fmnist_spec.running.fit as fit_module
    from fmnist_spec.running.train import TrainingInterrupted

    def interrupted_after_the_weights(job):
        backup = tmp_path / ".run.partial" / "backup"
        backup.mkdir(parents=True, exist_ok=True)
        (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n")  # no training_metadata.json yet
        raise KeyboardInterrupt

    monkeypatch.setitem(fit_module.FITTERS, "default", interrupted_after_the_weights)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(parse_spec(TINY.replace("EPOCHS", "2")), out=tmp_path / "run", data_dir=tiny_data_dir)
    assert not stopped.value.resumable and stopped.value.epochs_finished == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "fashion"]


def test_a_damaged_backup_is_restored_from_its_previous_copy_or_refused_with_a_hint(tmp_path):
    folder = RunFolder(tmp_path)
    folder.backup_path.mkdir()
    (folder.backup_path / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n cut short")
    (folder.backup_path / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    with pytest.raises(RunFolderError, match="(?s)damaged .* --overwrite instead of --resume"):
        folder.check_backup()
    import h5py

    with h5py.File(folder.backup_path / "latest.weights.h5.bkp", "w") as fh:
        fh.create_group("vars")
    (folder.backup_path / "training_metadata.json.bkp").write_text('{"epoch": 1, "batch": 0}')
    assert folder.check_backup() == 1
    assert (folder.backup_path / "training_metadata.json").read_text() == '{"epoch": 1, "batch": 0}'


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / f".model.keras.tmp-{dead.stdout.strip()}-abc.keras"
    alive = tmp_path / f".model.keras.tmp-{os.getpid()}-abc.keras"
    stale.write_text("x")
    alive.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert alive.exists() and not stale.exists()


def test_metrics_of_an_older_run_folder_read_with_every_field():
    old = {"status": "finished", "epochs": 2, "train": {"loss": 0.5}, "validation": {"loss": 0.6},
           "test": {"loss": 0.7}, "fit_seconds": 1.5, "samples": {"train": 40}, "parameters": 10,
           "data_source": "x", "resumed_from_epoch": 0}
    metrics = Metrics.from_dict(old)
    assert metrics.epochs_finished == 2 and metrics.stopped_at is None and metrics.distribute == {}
    assert Metrics.from_dict(metrics.as_dict()) == metrics
    assert Metrics.from_dict({"status": "nan_loss", "epochs": 3}).validation == {}


def _mount_tmpfs(path, size):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_a_full_disk_is_a_clear_error_and_the_run_resumes_after_space_is_freed(real_data, tmp_path):
    import threading

    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "3m")
    try:
        out = disk / "run"
        spec = parse_spec(SLOW.replace("EPOCHS", "40").replace("verbose: 2", "verbose: 0"))
        filler = disk / "filler"
        metadata = disk / ".run.partial" / "backup" / "training_metadata.json"

        def fill():
            while not metadata.is_file():
                time.sleep(0.005)
            with open(filler, "wb") as fh:
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
                except OSError:
                    pass

        thread = threading.Thread(target=fill, daemon=True)
        thread.start()
        with pytest.raises(RunWriteError) as failed:
            train(spec, out=out, data=real_data)
        thread.join(timeout=10)
        message = str(failed.value)
        assert "disk space" in message and "--resume" in message and str(disk / ".run.partial") in message
        partial = RunFolder(disk / ".run.partial")
        done = partial.check_backup()
        # "failed" when metrics.json could still be written; this filler leaves no byte free, so it may stay "running"
        assert done >= 1 and partial.read_metrics().status in ("failed", "running")
        filler.unlink()
        result = train(spec, out=out, data=real_data, resume=True)
        assert result.metrics.status == "finished" and result.metrics.resumed_from_epoch == done
        assert len(json.loads((out / "history.json").read_text())["loss"]) == 40
        assert sorted(p.name for p in out.iterdir()) == sorted(RunFolder.FILES)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
