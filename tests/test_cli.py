import json
import subprocess
import sys

import pytest
from conftest import BAD_SPECS, ROOT, SPECS

from fmnist_spec.cli import main


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fmnist_spec", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_validate_all_shipped_specs_exits_0(capsys):
    assert main(["validate", *map(str, SPECS)]) == 0
    out = capsys.readouterr().out
    assert out.count(": valid (") == len(SPECS)


def test_validate_bad_spec_exits_2_with_file_line_column(capsys):
    bad = ROOT / "tests" / "bad_specs" / "unit_negative.yaml"
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6:48: layers[2].units: -3 is less than the minimum of 1" in err


def test_validate_json_format_has_every_field(capsys):
    bad = ROOT / "tests" / "bad_specs" / "misspelt_activation.yaml"
    assert main(["validate", "--format", "json", str(bad)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == "validate" and report["exit_status"] == 2
    assert report["result"] == [{"file": str(bad), "valid": False, "name": None, "layers": None,
                                 "parameters": None, "trainable_parameters": None,
                                 "non_trainable_parameters": None, "split": None, "summary": None}]
    problems = report["problems"]
    assert problems[0] == {"file": str(bad), "line": 4, "column": 50, "path": "layers[0].activation",
                           "message": problems[0]["message"], "hint": "did you mean 'sigmoid'?",
                           "severity": "error", "code": ""}


def test_validate_summary_prints_inferred_shapes(capsys):
    assert main(["validate", "--summary", str(ROOT / "specs" / "hidden_output.yaml")]) == 0
    out = capsys.readouterr().out
    assert 'Model: "패션 MNIST 모델"' in out and "hidden (Dense)" in out and "79,510" in out


BATCH_NORMALIZED = """spec_version: 1
layers:
  - {type: BatchNormalization, center: false, input_shape: [784]}
  - {name: a_rather_long_output_layer_name, units: 10, activation: softmax}
compile: {loss: sparse_categorical_crossentropy}
"""


def test_validate_summary_prints_trainable_and_non_trainable_in_aligned_columns(tmp_path, capsys):
    path = tmp_path / "bn.yaml"
    path.write_text(BATCH_NORMALIZED)
    assert main(["validate", "--summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:] == ["Total params: 10,202 (39.85 KB)", "Trainable params: 8,634 (33.73 KB)",
                          "Non-trainable params: 1,568 (6.12 KB)"]  # Keras's model.summary() figures
    header = next(i for i, line in enumerate(lines) if line.startswith("Layer (type)"))
    table = lines[header:header + 3]
    column = table[0].index("Output Shape")
    assert table[2].startswith("a_rather_long_output_layer_name (Dense) ")
    assert [line[column:column + 11] for line in table[1:]] == ["(None, 784)", "(None, 10) "]
    assert len({len(line) for line in table}) == 1  # the parameter column is right-aligned


def test_validate_json_has_a_row_per_layer_with_trainable_counts(tmp_path, capsys):
    path = tmp_path / "bn.yaml"
    path.write_text(BATCH_NORMALIZED)
    assert main(["validate", "--format", "json", str(path)]) == 0
    (result,) = json.loads(capsys.readouterr().out)["result"]
    assert (result["parameters"], result["trainable_parameters"], result["non_trainable_parameters"]) == \
        (10_202, 8_634, 1_568)
    assert result["summary"] == [
        {"name": "batch_normalization", "type": "BatchNormalization", "output_shape": [None, 784],
         "parameters": 2_352, "trainable_parameters": 784, "non_trainable_parameters": 1_568},
        {"name": "a_rather_long_output_layer_name", "type": "Dense", "output_shape": [None, 10],
         "parameters": 7_850, "trainable_parameters": 7_850, "non_trainable_parameters": 0}]


def test_validate_does_not_import_tensorflow():
    code = ("import sys; from fmnist_spec.cli import main; status = main(['validate', 'specs/relu_adam.yaml']);"
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "0 False False"


def test_missing_file_exits_2_without_traceback():
    result = run("validate", "specs/nope.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "specs/nope.yaml: no such file\n  hint: check the path; shipped specs are in specs/"


@pytest.mark.parametrize("path", BAD_SPECS[:5], ids=[p.name for p in BAD_SPECS[:5]])
def test_build_and_train_refuse_bad_specs_with_status_2(path):
    for command in ("build", "train"):
        result = run(command, str(path))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"{path}:")


def test_bad_arguments_exit_2():
    assert run("build", "specs/relu_adam.yaml", "--save", "model.h5").returncode == 2
    assert run("train", "specs/relu_adam.yaml", "--epochs", "0").returncode == 2
    assert run("train", "specs/relu_adam.yaml", "--epochs", "10001").returncode == 2
    assert run("frobnicate").returncode == 2


def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    result = run("build", "specs/relu_adam.yaml", "--save", str(tmp_path / "no" / "m.keras"))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "file").write_text("x")
    result = run("train", "specs/relu_adam.yaml", "--out", str(tmp_path / "file"))
    assert result.returncode == 2 and "not a directory" in result.stderr


def test_build_summary_prints_keras_summary_with_korean_name(tmp_path):
    result = run("build", "specs/hidden_output.yaml", "--summary", "--save", str(tmp_path / "m.keras"))
    assert result.returncode == 0, result.stderr
    assert 'Model: "패션 MNIST 모델"' in result.stdout
    assert "hidden (Dense)" in result.stdout and "output (Dense)" in result.stdout
    assert "Total params: 79,510" in result.stdout
    assert (tmp_path / "m.keras").stat().st_size > 10_000
    assert "input_shape" not in result.stderr  # no Keras warning about input_shape


def test_train_missing_data_dir_exits_1(tmp_path):
    result = run("train", "specs/relu_adam.yaml", "--data-dir", str(tmp_path), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "missing train-images-idx3-ubyte.gz" in result.stderr and "Traceback" not in result.stderr


def test_train_seed_flag_gives_the_same_history_twice(tiny_data_dir, tmp_path, capsys):
    spec = ROOT / "specs" / "relu_adam.yaml"
    for run_dir in ("a", "b"):
        assert main(["train", str(spec), "--epochs", "1", "--seed", "5", "--data-dir", str(tiny_data_dir),
                     "--out", str(tmp_path / run_dir)]) == 0
    capsys.readouterr()
    first, second = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("a", "b"))
    assert first == second
    assert "seed: 5" in (tmp_path / "a" / "spec.yaml").read_text("utf-8")


@pytest.mark.parametrize("seed", ["-1", "4294967296", "abc"])
def test_train_seed_flag_out_of_range_exits_2(seed, capsys):
    assert main(["train", str(ROOT / "specs" / "relu_adam.yaml"), "--seed", seed]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"--seed {seed}:1:8: seed: ")  # located at the flag, checked by the schema


def test_two_fresh_processes_with_the_same_seed_give_the_same_history(tiny_data_dir, tmp_path):
    # Fresh processes, so the default thread pools (1/1) and steps_per_execution
    # really apply, unlike in this long-lived test process.
    spec = ROOT / "specs" / "relu_adam.yaml"
    for run_dir in ("a", "b"):
        done = run("train", str(spec), "--epochs", "2", "--seed", "3", "--data-dir", str(tiny_data_dir),
                   "--out", str(tmp_path / run_dir))
        assert done.returncode == 0, done.stderr[-2000:]
        assert "already running" not in done.stderr
    first, second = (json.loads((tmp_path / d / "history.json").read_text()) for d in ("a", "b"))
    assert first == second and len(first["loss"]) == 2


def test_build_format_json_lists_layers_shapes_and_parameters(capsys):
    assert main(["build", str(ROOT / "specs" / "hidden_output.yaml"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["command"] == "build" and report["exit_status"] == 0 and report["error"] is None
    facts = report["result"]
    assert facts["saved"] is None and facts["plotted"] is None
    assert facts["name"] == "패션 MNIST 모델" and facts["parameters"] == 79_510 and facts["style"] == "list"
    assert facts["layers"] == [
        {"name": "hidden", "type": "Dense", "output_shape": [None, 100], "parameters": 78_500},
        {"name": "output", "type": "Dense", "output_shape": [None, 10], "parameters": 1_010}]
