import json

import keras
import pytest
from conftest import SPECS

from fmnist_spec import build_model, load_spec, parse_spec
from fmnist_spec.language.shapes import infer
from fmnist_spec.tools.inspect import filters

TOTALS = {"cnn": 333_526, "cnn_input": 333_526}
"""Parameters of the shipped specs that are not the notes' 79,510 (the 8-2 CNN, as its notebooks print)."""


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_inferred_shapes_and_params_equal_keras(path):
    spec = load_spec(path)
    rows = infer(spec.data["layers"], spec.input_shape)
    keras.backend.clear_session()  # Keras's automatic names count from dense, conv2d, ... again
    model = build_model(spec)
    assert [r.params for r in rows] == [layer.count_params() for layer in model.layers]
    assert [r.output_shape for r in rows] == [tuple(layer.output.shape) for layer in model.layers]
    model.summary(print_fn=lambda *a, **k: None)  # what validate --summary stands for
    assert [r.name for r in rows] == [layer.name for layer in model.layers]
    assert sum(r.params for r in rows) == model.count_params() == TOTALS.get(path.stem, 79_510)


def test_dense_on_images_keeps_the_extra_axis():
    rows = infer([{"units": 100}, {"units": 10}], (28, 28))
    assert rows[-1].output_shape == (None, 28, 10)
    assert [r.name for r in rows] == ["dense", "dense_1"]


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_batch_normalization_counts_equal_keras_for_center_and_scale(center, scale):
    layers = [{"type": "BatchNormalization", "center": center, "scale": scale, "input_shape": [784]},
              {"units": 10, "activation": "softmax"}]
    rows = infer(layers, (784,))
    keras.backend.clear_session(free_memory=False)
    model = keras.Sequential([keras.Input((784,)), keras.layers.BatchNormalization(center=center, scale=scale),
                              keras.layers.Dense(10, activation="softmax")])
    normalisation = model.layers[0]
    assert rows[0].params == normalisation.count_params() == (2 + center + scale) * 784
    assert rows[0].trainable == sum(w.shape[0] for w in normalisation.trainable_weights) == (center + scale) * 784
    assert rows[0].non_trainable == sum(w.shape[0] for w in normalisation.non_trainable_weights) == 2 * 784
    assert sum(r.params for r in rows) == model.count_params()  # 10,202 with center: false, as Keras counts


def test_automatic_names_count_only_unnamed_layers_as_keras_does():
    layers = [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "features", "input_shape": [28, 28, 1]},
              {"type": "Conv2D", "filters": 4, "kernel_size": 3},
              {"type": "Flatten"}, {"name": "hidden", "units": 20, "activation": "relu"},
              {"units": 10, "activation": "softmax"}]
    rows = infer(layers, (28, 28, 1))
    assert [r.name for r in rows] == ["features", "conv2d", "flatten", "hidden", "dense"]
    spec = parse_spec("spec_version: 1\nlayers:\n" + "".join(f"  - {json.dumps(layer)}\n" for layer in layers)
                      + "compile: {loss: sparse_categorical_crossentropy}\n")
    keras.backend.clear_session(free_memory=False)  # as a fresh 'build' or 'train' process
    model = build_model(spec)
    assert [layer.name for layer in model.layers] == [r.name for r in rows]
    assert filters(model, "conv2d").kernel.shape == (3, 3, 4, 4)  # inspect --filters takes these names


def test_a_model_built_after_others_in_one_process_keeps_the_names_validate_shows():
    spec = next(load_spec(path) for path in SPECS if path.name == "cnn.yaml")
    rows = infer(spec.data["layers"], spec.input_shape)
    first, second = build_model(spec), build_model(spec)  # no clear_session: compare trains several specs
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers] == [r.name for r in rows]
    assert "conv2d" in [r.name for r in rows]
