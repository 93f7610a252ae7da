import csv
import json

import pytest

from fmnist_spec import parse_spec, train
from fmnist_spec.cli import main

TEXT = ("spec_version: 1\nseed: 5\nlayers:\n  - {units: 8, activation: relu, input_shape: [784]}\n"
        "  - {units: 10, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: 3, batch_size: 8, verbose: 0}\ndata: {flatten: true}\n")


def test_log_csv_has_one_row_per_epoch_equal_to_the_history(tiny_data_dir, tmp_path):
    result = train(parse_spec(TEXT), out=tmp_path / "run", data_dir=tiny_data_dir)
    with open(tmp_path / "run" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(r[key]) for r in rows] == pytest.approx(result.history[key], rel=1e-6)
    assert not (tmp_path / "tb").exists()


def test_train_tensorboard_writes_event_files_for_training_and_validation(tiny_data_dir, tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(TEXT)
    status = main(["train", str(spec), "--out", str(tmp_path / "run"), "--data-dir", str(tiny_data_dir),
                   "--tensorboard", str(tmp_path / "tb")])
    assert status == 0
    assert f"TensorBoard logs: {tmp_path / 'tb'}" in capsys.readouterr().out
    for split in ("train", "validation"):
        events = list((tmp_path / "tb" / split).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 100, split
    from tensorflow.compat.v1 import train as tf1_train

    tags = {v.tag for e in tf1_train.summary_iterator(str(events[0])) for v in e.summary.value}
    assert "epoch_loss" in tags and "epoch_accuracy" in tags
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 3
