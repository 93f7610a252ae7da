from fmnist_spec import parse_spec
from fmnist_spec.language.validation import check_source
from fmnist_spec.source.yaml_source import parse_text

HEAD = "spec_version: 1\nlayers:\n"
TAIL = "compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"


def problems(text):
    return check_source(parse_text(text, "x.yaml"))[1]


def test_sigmoid_output_is_a_warning_not_an_error():
    text = HEAD + "  - {type: Flatten, input_shape: [28, 28]}\n  - {units: 10, activation: sigmoid}\n" + TAIL
    found = problems(text)
    assert [(p.severity, p.path) for p in found] == [("warning", "layers[1].activation")]
    assert "softmax" in found[0].hint
    assert parse_spec(text).layers[1].arguments["activation"] == "sigmoid"  # still usable


def test_relu_output_is_an_error():
    text = HEAD + "  - {type: Flatten, input_shape: [28, 28]}\n  - {units: 10, activation: relu}\n" + TAIL
    assert [(p.severity, p.line, p.column) for p in problems(text)] == [("error", 4, 29)]


def test_channel_axis_gets_its_own_hint():
    text = HEAD + "  - {type: Flatten, input_shape: [28, 28, 1]}\n  - {units: 10, activation: softmax}\n" + TAIL
    (problem,) = problems(text)
    assert problem.path == "layers[0].input_shape" and "no channel axis" in problem.hint


def test_batch_axis_gets_its_own_hint():
    text = HEAD + "  - {type: Flatten, input_shape: [32, 28, 28]}\n  - {units: 10, activation: softmax}\n" + TAIL
    (problem,) = problems(text)
    assert "batch axis" in problem.hint and problem.hint.endswith("write [28, 28]")


def test_flatten_toggle_is_suggested_only_when_it_helps():
    text = HEAD + "  - {units: 10, activation: softmax, input_shape: [784]}\n" + TAIL
    (problem,) = problems(text)
    assert "data.flatten: true" in problem.hint
