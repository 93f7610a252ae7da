import json
import subprocess
import sys

import pytest

from conftest import ROOT, WARNING_SPECS
from fmnist_spec import parse_spec, validate
from fmnist_spec.cli import main
from fmnist_spec.language.schema import schema
from fmnist_spec.language.spec_warnings import CODES, SOURCE_WARNINGS, WARNINGS


def _expectation(path):
    first = path.read_text("utf-8").split("\n", 1)[0]
    json_path, position, code = first[len("# expect: ") :].split(" ")
    line, column = (int(n) for n in position.split(":"))
    return json_path, line, column, code


@pytest.mark.parametrize("path", WARNING_SPECS, ids=[p.name for p in WARNING_SPECS])
def test_warning_spec_is_accepted_with_its_warning_at_its_position(path):
    json_path, line, column, code = _expectation(path)
    problems = validate(path)
    assert [p.severity for p in problems] == ["warning"], [p.render() for p in problems]
    found = problems[0]
    assert (found.path, found.line, found.column, found.code) == (json_path, line, column, code)
    assert found.render().startswith(f"{path}:{line}:{column}: warning: {json_path}: ")
    assert found.render().splitlines()[0].endswith(f"[{code}]") and found.hint


@pytest.mark.parametrize("path", WARNING_SPECS, ids=[p.name for p in WARNING_SPECS])
def test_each_warning_is_silenced_by_its_code(path, tmp_path):
    code = _expectation(path)[3]
    silenced = tmp_path / path.name
    silenced.write_text(path.read_text("utf-8") + f"warnings: {{ignore: [{code}]}}\n", "utf-8")
    assert validate(silenced) == []


def test_every_warning_code_has_a_spec_and_the_schema_lists_them():
    assert sorted(_expectation(p)[3] for p in WARNING_SPECS) == sorted(CODES)
    assert schema()["properties"]["warnings"]["properties"]["ignore"]["items"]["enum"] == list(CODES)
    assert len(SOURCE_WARNINGS) + len(WARNINGS) == len(CODES)


def test_unknown_warning_code_is_an_error_with_a_suggestion():
    problems = validate_text("warnings: {ignore: [high-droput]}\n")
    assert [(p.path, p.severity) for p in problems] == [("warnings.ignore[0]", "error")]
    assert problems[0].hint == "did you mean 'high-dropout'?"


def validate_text(extra):
    from fmnist_spec.language.validation import check_source
    from fmnist_spec.source.yaml_source import parse_text

    text = (
        "spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n" + extra
    )
    return check_source(parse_text(text, "w.yaml"))[1]


def test_dropout_just_before_the_output_layer_is_fine():
    assert validate_text("") == []
    text = (
        "spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 100, activation: relu}\n"
        "  - {type: Dropout, rate: 0.5}\n  - {units: 10, activation: softmax}\n"
        "compile: {loss: sparse_categorical_crossentropy}\n"
    )
    assert parse_spec(text).warnings == ()


def test_leading_zero_that_is_not_octal_says_so():
    problems = validate_text("fit: {epochs: 09}\n")
    assert problems[0].code == "leading-zero-integer"
    assert problems[0].message == "09 has a leading zero: fmnist-spec (YAML 1.2) reads it as 9"


def test_warnings_do_not_stop_parse_spec_and_are_on_the_spec():
    spec = parse_spec((WARNING_SPECS[0]).read_text("utf-8"), str(WARNING_SPECS[0]))
    assert [p.code for p in spec.warnings] == [_expectation(WARNING_SPECS[0])[3]]


def test_validate_prints_warnings_and_exits_0(capsys):
    path = next(p for p in WARNING_SPECS if p.name == "high_dropout.yaml")
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{path}:6:27: warning: layers[2].rate: Dropout rate 0.9 drops 90%" in captured.err
    assert ": valid (" in captured.out
    assert main(["validate", "--format", "json", str(path)]) == 0
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [(p["severity"], p["code"], p["line"], p["column"]) for p in problems] == [
        ("warning", "high-dropout", 6, 27)
    ]


def test_train_shows_the_same_warnings(tmp_path):
    from conftest import write_fashion_dir

    data = write_fashion_dir(tmp_path / "data")
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {type: Dropout, rate: 0.95}\n  - {units: 10, activation: softmax}\n"
        "compile: {loss: sparse_categorical_crossentropy}\nfit: {verbose: 0}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fmnist_spec",
            "train",
            str(spec),
            "--out",
            str(tmp_path / "run"),
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"{spec}:4:27: warning: layers[1].rate: Dropout rate 0.95" in result.stderr


def _with_compile_and_fit(compile_, fit=""):
    from fmnist_spec.language.validation import check_source
    from fmnist_spec.source.yaml_source import parse_text

    text = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
            "  - {units: 10, activation: softmax}\n" + compile_ + fit)
    return check_source(parse_text(text, "w.yaml"))[1]


def test_high_warmup_target_is_warned_at_the_warmup_target():
    problems = _with_compile_and_fit(
        "compile:\n  loss: sparse_categorical_crossentropy\n  optimizer:\n    type: Adam\n    learning_rate:\n"
        "      {type: CosineDecay, initial_learning_rate: 0.001, decay_steps: 100, warmup_target: 5, warmup_steps: 2}\n")
    assert [(p.code, p.path, p.line, p.column) for p in problems] == [
        ("high-learning-rate", "compile.optimizer.learning_rate.warmup_target", 10, 90)]
    assert problems[0].message.startswith("warmup_target 5 is high for Adam")


def test_a_checkpoint_per_epoch_file_is_not_said_to_be_overwritten():
    checkpoint = ("fit:\n  callbacks:\n    - {type: ModelCheckpoint, filepath: 'm-{epoch:02d}.keras'}\n")
    assert _with_compile_and_fit("compile: {loss: sparse_categorical_crossentropy}\n", checkpoint) == []
    same_file = checkpoint.replace("m-{epoch:02d}.keras", "m.keras")
    assert [p.code for p in _with_compile_and_fit("compile: {loss: sparse_categorical_crossentropy}\n", same_file)] \
        == ["checkpoint-every-epoch"]
