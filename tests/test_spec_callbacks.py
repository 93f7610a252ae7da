"""fit.callbacks in training: EarlyStopping stops and restores the best weights (metrics.json
and model.keras agree with the best epoch), ModelCheckpoint's file is published and holds the
best epoch, under default and mirrored strategies and in compare. Small slices of the real data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_spec import parse_spec, train
from fmnist_spec.language.spec import Spec
from fmnist_spec.tools.evaluate import evaluate

pytestmark = pytest.mark.skipif("callbacks" not in Spec.__dataclass_fields__,
                                reason="needs the spec language's fit.callbacks (branch lessons-merged)")

ROOT = Path(__file__).resolve().parent.parent
SPEC = """spec_version: 1
seed: 42
layers:
  - {{type: Flatten, input_shape: [28, 28]}}
  - {{units: 32, activation: relu}}
  - {{units: 10, activation: softmax}}
compile: {{optimizer: {{type: Adam, learning_rate: 0.02}}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
fit:
  epochs: {epochs}
  batch_size: 32
  verbose: 0
  callbacks:
{callbacks}
data: {{scale: 255.0, train_samples: {samples}}}
{distribute}"""
EARLY = "    - {type: EarlyStopping, patience: 1, restore_best_weights: true}"
CHECKPOINT = "    - {type: ModelCheckpoint, filepath: best/best-model.keras, save_best_only: true}"


def spec_text(callbacks, epochs=8, samples=1500, distribute=""):
    return SPEC.format(epochs=epochs, callbacks="\n".join(callbacks), samples=samples, distribute=distribute)


@pytest.fixture(scope="module")
def stopped(real_data, tmp_path_factory):
    """A run that overfits a 1,500-image slice with a high learning rate, so val_loss rises early."""
    out = tmp_path_factory.mktemp("runs") / "early"
    return train(parse_spec(spec_text([CHECKPOINT, EARLY], epochs=12)), out=out, data=real_data)


def test_early_stopping_stops_and_metrics_json_names_the_stopped_and_best_epoch(stopped):
    m = json.loads((stopped.out_dir / "metrics.json").read_text())
    history = json.loads((stopped.out_dir / "history.json").read_text())
    assert m["epochs_finished"] < 12, "the slice should make validation loss rise before epoch 12"
    assert m["stopped_epoch"] == m["epochs_finished"] == len(history["val_loss"])
    best = min(range(len(history["val_loss"])), key=lambda i: history["val_loss"][i])
    assert m["best_epoch"] == best + 1 and m["monitor"] == "val_loss"
    assert m["best"] == pytest.approx(history["val_loss"][best], rel=1e-6)
    assert m["stopped_epoch"] == m["best_epoch"] + 1  # patience 1


def test_restored_best_weights_give_the_best_epochs_validation_figures(stopped, real_data):
    m, history = stopped.metrics, stopped.history
    best = m.best_epoch - 1
    # the final figures are evaluated on the restored weights, not the last epoch's pass
    assert m.validation["loss"] == pytest.approx(history["val_loss"][best], rel=1e-5)
    assert m.validation["accuracy"] == pytest.approx(history["val_accuracy"][best], abs=1e-6)
    assert m.validation["loss"] != pytest.approx(history["val_loss"][-1], rel=1e-5)
    saved = evaluate(stopped.out_dir, data=real_data, split="validation")
    assert saved.accuracy == pytest.approx(history["val_accuracy"][best], abs=1e-6)


def test_model_checkpoint_is_published_and_holds_the_best_epoch(stopped, real_data):
    checkpoint = stopped.out_dir / "best" / "best-model.keras"
    assert checkpoint.is_file()
    assert not any(stopped.out_dir.parent.glob(".*.partial"))
    figures = evaluate(checkpoint, data=real_data, split="validation")
    assert figures.loss == pytest.approx(stopped.history["val_loss"][stopped.metrics.best_epoch - 1], rel=1e-4)


def test_train_summary_prints_the_stopped_and_best_epoch(tmp_path, capsys, monkeypatch):
    from fmnist_spec.cli import main

    spec = tmp_path / "early.yaml"
    spec.write_text(spec_text([EARLY], epochs=12))
    assert main(["train", str(spec), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert f"early stopping after epoch {m['stopped_epoch']} of 12" in out
    assert f"best epoch {m['best_epoch']}: val_loss {m['best']:.4f}" in out


def test_compare_trains_a_spec_with_callbacks(tmp_path, real_data):
    from fmnist_spec.tools.compare import compare

    result = compare([parse_spec(spec_text([CHECKPOINT, EARLY], epochs=12), str(tmp_path / "early.yaml"))],
                     out=tmp_path / "cmp", data=real_data, verbose=0)
    assert result.ok
    run = Path(result.rows[0]["run"])
    assert (run / "best" / "best-model.keras").is_file()
    assert result.rows[0]["epochs"] == 12 and json.loads((run / "metrics.json").read_text())["stopped_epoch"]


def test_callbacks_under_mirrored_on_two_logical_cpus(tmp_path):
    spec = tmp_path / "mirrored.yaml"
    spec.write_text(spec_text([CHECKPOINT, EARLY], epochs=12,
                              distribute="distribute: {strategy: mirrored, devices: [/cpu:0, /cpu:1]}\n"))
    done = subprocess.run([sys.executable, "-m", "fmnist_spec", "train", str(spec), "--out", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["distribute"]["replicas"] == 2
    assert m["stopped_epoch"] is not None and m["best_epoch"] is not None
    assert (tmp_path / "run" / "best" / "best-model.keras").is_file()
