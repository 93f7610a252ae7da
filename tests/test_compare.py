import csv
from dataclasses import replace
import json
import subprocess
import signal
import sys
import time

import pytest
from conftest import ROOT
from fmnist_spec import load_spec, parse_spec
from fmnist_spec.tools.compare import COLUMNS, compare, run_key
from png_check import assert_real_png

TINY = ("spec_version: 1\nname: {name}\nseed: 1\nlayers:\n"
        "  - {{units: 8, activation: {activation}, input_shape: [784]}}\n"
        "  - {{units: 10, activation: softmax}}\n"
        "compile: {{optimizer: {optimizer}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}\n"
        "fit: {{epochs: 2, batch_size: 8, verbose: 0}}\ndata: {{flatten: true}}\n")
NOTES_COMPARISON = [ROOT / "specs" / n for n in ("dense_sigmoid.yaml", "relu_flatten.yaml", "relu_adam.yaml")]


def tiny_specs(tmp_path):
    paths = []
    for name, activation, optimizer in (("sig", "sigmoid", "rmsprop"), ("relu", "relu", "adam")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(TINY.format(name=name, activation=activation, optimizer=optimizer), "utf-8")
        paths.append(path)
    return [load_spec(p) for p in paths]


def test_run_key_follows_the_resolved_spec_not_the_text():
    text = TINY.format(name="a", activation="relu", optimizer="adam")
    same = parse_spec("# a comment\n" + text.replace("verbose: 0", "verbose: 2"))
    assert run_key(parse_spec(text)) == run_key(same)
    assert run_key(parse_spec(text)) == run_key(parse_spec(text), epochs=2)
    assert run_key(parse_spec(text)) != run_key(parse_spec(text), epochs=3)
    assert run_key(parse_spec(text)) != run_key(parse_spec(text.replace("units: 8", "units: 9")))
    defaults_written = text.replace("verbose: 0}", "verbose: 0}\n").replace(
        "data: {flatten: true}", "data: {flatten: true, scale: 255.0, validation: {test_size: 0.2}}")
    assert run_key(parse_spec(text)) == run_key(parse_spec(defaults_written))


def test_compare_writes_tables_and_runs_then_reuses_finished_runs(tiny_data_dir, tmp_path, monkeypatch):
    specs = tiny_specs(tmp_path)
    lines = []
    first = compare(specs, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lines.append)
    assert [r["spec"] for r in first.rows] == ["sig", "relu"] and not any(r["cached"] for r in first.rows)
    assert lines[0].startswith(f"[1/2] {specs[0].file}: training 2 epochs -> ")
    for r, spec in zip(first.rows, specs):
        assert r["run"] == str(tmp_path / "cmp" / run_key(spec))
        assert r["parameters"] == 784 * 8 + 8 + 90 and r["epochs"] == 2
        assert 0 <= r["val_accuracy"] <= 1 and r["train_loss"] > 0 and r["fit_seconds"] > 0
    with open(tmp_path / "cmp" / "comparison.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == list(COLUMNS)
    assert float(table[1]["test_accuracy"]) == first.rows[1]["test_accuracy"]
    markdown = (tmp_path / "cmp" / "comparison.md").read_text().splitlines()
    assert markdown[0].startswith("| spec | parameters | epochs | train_accuracy |") and len(markdown) == 4
    assert markdown[3].startswith("| relu | 6,370 | 2 | ")
    curves = tmp_path / "cmp" / "learning_curves.png"
    assert assert_real_png(curves, min_bytes=20_000)[0] > 800
    models = [tmp_path / "cmp" / run_key(s) / "model.keras" for s in specs]
    stamps = [m.stat().st_mtime_ns for m in models]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("fmnist_spec.running.train.train", no_training)
    lines.clear()
    second = compare(specs, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lines.append)
    assert all(r["cached"] for r in second.rows) and all("cached, not retrained" in line for line in lines)
    assert [m.stat().st_mtime_ns for m in models] == stamps
    assert [r["test_accuracy"] for r in second.rows] == [r["test_accuracy"] for r in first.rows]
    with pytest.raises(AssertionError, match="trained again"):
        compare([replace(specs[0], epochs=3)], out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lines.append)


def test_a_changed_spec_yaml_is_not_taken_for_a_finished_run(tiny_data_dir, tmp_path):
    spec = tiny_specs(tmp_path)[:1]
    compare(spec, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lambda line: None)
    stored = tmp_path / "cmp" / run_key(spec[0]) / "spec.yaml"
    stored.write_text(stored.read_text().replace("units: 8", "units: 7"))
    again = compare(spec, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lambda line: None)
    assert not again.rows[0]["cached"]


def test_cli_compare_of_the_notes_specs_as_json(tiny_data_dir, tmp_path):
    args = [sys.executable, "-m", "fmnist_spec", "compare", *map(str, NOTES_COMPARISON), "--epochs", "1",
            "--data-dir", str(tiny_data_dir), "--out", str(tmp_path / "cmp"), "--format", "json"]
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["result"]
    assert [r["spec"] for r in rows] == ["dense_sigmoid", "relu_flatten", "relu_adam"]
    assert [r["parameters"] for r in rows] == [79_510, 79_510, 79_510]
    assert all(r["epochs"] == 1 and r["cached"] is False for r in rows)
    assert result.stderr.count(": training 1 epoch -> ") == 3
    again = subprocess.run(args[:-2], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("cached, not retrained") == 3
    assert "dense_sigmoid" in again.stdout and "test_accuracy" in again.stdout
    assert "Epoch 1/1" not in again.stdout


def test_cli_compare_refuses_a_bad_spec_before_training(tmp_path):
    bad = ROOT / "tests" / "bad_specs" / "misspelt_activation.yaml"
    args = ["compare", str(NOTES_COMPARISON[0]), str(bad), "--out", str(tmp_path / "cmp")]
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", *args], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 2 and result.stderr.startswith(f"{bad}:4:50:")
    assert not (tmp_path / "cmp").exists()


def test_cli_compare_text_shows_keras_progress_then_the_table(tiny_data_dir, tmp_path):
    spec = tmp_path / "relu.yaml"
    text = TINY.format(name="relu", activation="relu", optimizer="adam")
    spec.write_text(text.replace("verbose: 0", "verbose: auto"))
    args = [sys.executable, "-m", "fmnist_spec", "compare", str(spec), "--data-dir", str(tiny_data_dir),
            "--out", str(tmp_path / "cmp")]
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"[1/1] {spec}: training 2 epochs -> {tmp_path / 'cmp' / run_key(load_spec(spec))}"
    assert lines[1] == "Epoch 1/2" and lines[3] == "Epoch 2/2"  # Keras, one line per epoch (not a terminal)
    assert " - val_accuracy: " in lines[2]
    header = next(i for i, line in enumerate(lines) if line.startswith("spec "))
    assert lines[header].split() == list(COLUMNS[:-1]) and lines[header + 2].startswith("relu ")


NAN = ("spec_version: 1\nseed: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
       "  - {units: 64, activation: exponential, kernel_initializer: ones}\n  - {units: 10, activation: softmax}\n"
       "compile: {optimizer: sgd, loss: sparse_categorical_crossentropy, steps_per_execution: 1}\n"
       "fit: {epochs: 2, batch_size: 8, verbose: 0}\n")


def test_a_nan_run_gets_its_row_and_later_specs_still_train(tiny_data_dir, tmp_path):
    nan = tmp_path / "nan.yaml"
    nan.write_text(NAN)
    specs = [nan, *tiny_specs(tmp_path)[:1]]
    result = compare(specs, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lambda line: None)
    assert [r["status"] for r in result.rows] == ["nan_loss", "finished"] and not result.ok
    assert result.rows[0]["val_accuracy"] is None and result.rows[1]["val_accuracy"] is not None
    with open(tmp_path / "cmp" / "comparison.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["status"] for r in table] == ["nan_loss", "finished"] and table[0]["val_loss"] == ""
    again = compare(specs, out=tmp_path / "cmp", data_dir=tiny_data_dir, log=lambda line: None)
    assert all(r["cached"] for r in again.rows)  # an ended NaN run is not trained again


def test_ctrl_c_in_compare_exits_130_with_the_finished_rows_then_resumes(real_data, tmp_path):
    fast, slow = tmp_path / "fast.yaml", tmp_path / "slow.yaml"
    fast.write_text(TINY.format(name="fast", activation="relu", optimizer="adam").replace("epochs: 2", "epochs: 1")
                    + "")
    slow_text = ("spec_version: 1\nseed: 3\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                 "  - {units: 64, activation: relu}\n  - {units: 10, activation: softmax}\n"
                 "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                 "fit: {epochs: 30, batch_size: 32, verbose: 2}\ndata: {train_samples: 4000}\n")
    slow.write_text(slow_text)
    out = tmp_path / "cmp"
    args = [sys.executable, "-m", "fmnist_spec", "compare", str(fast), str(slow), "--out", str(out)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metadata = out / f".{run_key(load_spec(slow))}.partial" / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while not metadata.is_file():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "run the same command again" in err
    with open(out / "comparison.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [(r["spec"], r["status"]) for r in table] == [("fast", "finished"), ("slow", "interrupted")]
    slow.write_text(slow_text.replace("epochs: 30", "epochs: 30"))
    lines = []
    result = compare([load_spec(fast), load_spec(slow)], out=out, data=real_data, verbose=0, log=lines.append)
    assert [r["status"] for r in result.rows] == ["finished", "finished"] and result.rows[0]["cached"]
    assert lines[1].startswith(f"[2/2] {slow}: resuming a run of 30 epochs")


def test_compare_into_a_finished_run_folder_says_it_is_a_run(tmp_path):
    from fmnist_spec.running.run_folder import RunFolderError
    from fmnist_spec.tools.compare import _guard_out

    run = tmp_path / "adam10"
    run.mkdir()
    (run / "spec.yaml").write_text("spec_version: 1\n")
    (run / "metrics.json").write_text('{"status": "finished"}')
    with pytest.raises(RunFolderError, match="is the run folder of one training run") as caught:
        _guard_out(run)
    assert "folder of specs" not in str(caught.value)
    assert (run / "metrics.json").read_text() == '{"status": "finished"}'
