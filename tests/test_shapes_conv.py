"""Shape inference for convolutional layers, checked against Keras itself."""

import pytest

from fmnist_spec.language.shapes import ShapeChainError, infer

CASES = {
    "textbook_cnn": ((28, 28, 1), [
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu", "padding": "same"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Conv2D", "filters": 64, "kernel_size": [3, 3], "activation": "relu", "padding": "same"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Flatten"}, {"units": 100, "activation": "relu"}, {"type": "Dropout", "rate": 0.4},
        {"units": 10, "activation": "softmax"}]),
    "valid_strides_odd": ((28, 28, 1), [
        {"type": "Conv2D", "filters": 8, "kernel_size": [5, 3], "strides": [2, 3], "use_bias": False},
        {"type": "AveragePooling2D", "pool_size": [3, 2], "strides": 1, "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "MaxPooling2D", "pool_size": 3, "strides": 2},
        {"type": "Flatten"}, {"units": 10}]),
    "reshape_then_conv": ((784,), [
        {"type": "Reshape", "target_shape": [28, 28, 1]},
        {"type": "Conv2D", "filters": 4, "kernel_size": 28},
        {"type": "Reshape", "target_shape": [-1]},
        {"type": "BatchNormalization"}, {"units": 10}]),
}


def keras_rows(input_shape, layers):
    import keras

    keras.backend.clear_session()  # automatic names count from 0 again, as in a fresh process
    model = keras.Sequential([keras.Input(shape=input_shape)])
    for layer in layers:
        layer = dict(layer)
        kind = layer.pop("type", "Dense")
        model.add(getattr(keras.layers, kind)(**layer))
    return [(layer.name, tuple(layer.output.shape), layer.count_params()) for layer in model.layers]


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_shapes_and_params_equal_keras(case):
    input_shape, layers = CASES[case]
    rows = infer(layers, input_shape)
    assert [(r.name, r.output_shape, r.params) for r in rows] == keras_rows(input_shape, layers)


def test_textbook_cnn_has_333526_parameters():
    rows = infer(CASES["textbook_cnn"][1], (28, 28, 1))
    assert sum(r.params for r in rows) == 333_526


def test_input_element_is_not_a_row():
    rows = infer([{"type": "Input", "shape": [784]}, {"units": 10}], (784,))
    assert [(r.index, r.name, r.output_shape) for r in rows] == [(1, "dense", (None, 10))]


@pytest.mark.parametrize("layers, shape, index, key, words", [
    ([{"type": "Conv2D", "filters": 4, "kernel_size": 3}], (28, 28), 0, "type", "[28, 28, 1]"),
    ([{"type": "MaxPooling2D"}], (784,), 0, "type", "rank 4"),
    ([{"type": "Conv2D", "filters": 4, "kernel_size": 29}], (28, 28, 1), 0, "kernel_size", "larger"),
    ([{"type": "MaxPooling2D", "pool_size": 2}] * 5, (28, 28, 1), 4, "pool_size", "1x1"),
    ([{"type": "Reshape", "target_shape": [28, 27]}], (784,), 0, "target_shape", "756"),
    ([{"type": "Reshape", "target_shape": [-1, -1]}], (784,), 0, "target_shape", "more than one"),
])
def test_broken_chain_names_the_layer_and_key(layers, shape, index, key, words):
    with pytest.raises(ShapeChainError) as caught:
        infer(layers, shape)
    assert (caught.value.index, caught.value.key) == (index, key)
    assert words in caught.value.message + caught.value.hint
