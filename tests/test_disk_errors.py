"""A full disk while the run's files are written: a message in the user's words, not HDF5's."""

import errno
import json

import pytest

from fmnist_spec import parse_spec, train
from fmnist_spec.running.run_folder import RunFolder, RunWriteError

SPEC = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: 1, verbose: 0}\n")
HDF5_TEXT = ("Unable to synchronously write data (file write failed: time = Wed Dec  2 12:00:00 2026, filename = "
             "'model.weights.h5', file descriptor = 7, errno = 28, error message = 'No space left on device')")


def test_a_full_disk_while_saving_says_no_space_without_hdf5_text(tmp_path, tiny_data_dir, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, HDF5_TEXT)  # what h5py raises on ENOSPC

    monkeypatch.setattr(RunFolder, "write_curves", full)
    with pytest.raises(RunWriteError) as failed:
        train(parse_spec(SPEC), out=tmp_path / "run", data_dir=tiny_data_dir)
    message = str(failed.value)
    assert "not enough disk space for the run's files (No space left on device)" in message, message
    assert "synchronously" not in message and "errno = 28" not in message
    recorded = json.loads((tmp_path / ".run.partial" / "metrics.json").read_text())
    assert recorded["status"] == "failed" and "synchronously" not in recorded["message"]
