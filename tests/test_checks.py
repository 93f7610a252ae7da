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


def test_a_channel_axis_is_taken_by_the_data_and_three_channels_get_their_own_hint():
    text = HEAD + "  - {type: Flatten, input_shape: [28, 28, 1]}\n  - {units: 10, activation: softmax}\n" + TAIL
    assert problems(text) == [] and parse_spec(text).input_shape == (28, 28, 1)
    (problem,) = problems(text.replace("28, 1]", "28, 3]"))
    assert problem.path == "layers[0].input_shape" and "grayscale, one channel: write [28, 28, 1]" in problem.hint


def test_batch_axis_gets_its_own_hint():
    text = HEAD + "  - {type: Flatten, input_shape: [32, 28, 28]}\n  - {units: 10, activation: softmax}\n" + TAIL
    (problem,) = problems(text)
    assert "batch axis" in problem.hint and problem.hint.endswith("write [28, 28]")


def test_the_input_shape_decides_how_the_images_are_given_without_data_flatten():
    text = HEAD + "  - {units: 10, activation: softmax, input_shape: [784]}\n" + TAIL
    assert problems(text) == []
    spec = parse_spec(text)
    assert spec.input_shape == (784,) and spec.flatten
    assert parse_spec(text + "data: {flatten: true}\n").input_shape == (784,)
    (problem,) = problems(text + "data: {flatten: false}\n")
    assert problem.path == "data.flatten" and (problem.line, problem.column) == (5, 17)


def test_an_input_shape_the_pixels_cannot_take_is_an_error_at_it():
    for shape, hint in (("[100]", "write [784]"), ("[28, 28, 3]", "one channel"), ("[1, 784]", "batch axis")):
        (problem,) = problems(HEAD + f"  - {{type: Flatten, input_shape: {shape}}}\n"
                              "  - {units: 10, activation: softmax}\n" + TAIL)
        assert problem.path == "layers[0].input_shape" and hint in problem.hint, problem.render()
