import warnings

import numpy as np
import pytest

from conftest import ROOT, SPECS
from fmnist_spec import build_model, load_model, load_spec, parse_spec
from fmnist_spec.language.names import graph_name, is_graph_safe


def _architecture(model):
    return [(type(layer).__name__, layer.name, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers]


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_both_styles_give_the_same_architecture(path):
    spec = load_spec(path)
    as_list, as_add = build_model(spec, "list"), build_model(spec, "add")
    strip = lambda arch: [(cls, shape, params) for cls, _, shape, params in arch]  # noqa: E731
    assert strip(_architecture(as_list)) == strip(_architecture(as_add))
    named = [layer.name for layer in spec.layers if layer.name]
    if named:
        assert [layer.name for layer in as_list.layers] == [layer.name for layer in as_add.layers]


def test_notes_two_layer_model_has_79510_parameters():
    model = build_model(load_spec(ROOT / "specs" / "hidden_output.yaml"))
    assert model.name == "패션 MNIST 모델"
    assert [(layer.name, layer.count_params()) for layer in model.layers] == [("hidden", 78_500),
                                                                          ("output", 1_010)]
    assert model.count_params() == 79_510


def test_layer_arguments_reach_keras():
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {type: Dropout, rate: 0.3}\n"
                      "  - {units: 10, activation: softmax, use_bias: false, kernel_initializer: zeros}\n"
                      "compile:\n  optimizer: {type: SGD, learning_rate: 0.1, momentum: 0.9, nesterov: true}\n"
                      "  loss: sparse_categorical_crossentropy\n")
    model = build_model(spec, "add")
    dropout, dense = model.layers[1], model.layers[2]
    assert dropout.rate == 0.3
    assert dense.use_bias is False and dense.count_params() == 7840
    assert float(np.abs(dense.kernel.numpy()).sum()) == 0.0
    from fmnist_spec.to_keras.builder import compile_model

    compile_model(model, spec)
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and opt.nesterov is True
    assert float(opt.learning_rate) == pytest.approx(0.1) and opt.momentum == 0.9


def test_building_does_not_warn_about_input_shape():
    spec = load_spec(ROOT / "specs" / "relu_flatten.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_model(spec, "list")
        build_model(spec, "add")


def test_graph_name_keeps_safe_names_and_fixes_others():
    assert graph_name("sequential") == "sequential"
    for name in ("패션 MNIST 모델", "Fully Connected Network", "모델", " x"):
        assert is_graph_safe(graph_name(name)), name
    assert graph_name("패션 MNIST 모델") != graph_name("다른 MNIST 모델")


@pytest.mark.parametrize("name", ["패션 MNIST 모델", "Fully Connected Network"])
def test_unsafe_model_name_builds_summarises_trains_saves_and_loads(name, tmp_path, capsys):
    spec = parse_spec(f"spec_version: 1\nname: {name}\nlayers:\n"
                      "  - {name: hidden, units: 16, activation: sigmoid, input_shape: [784]}\n"
                      "  - {name: output, units: 10, activation: softmax}\n"
                      "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                      "data: {flatten: true}\n")
    from fmnist_spec.to_keras.builder import compile_model

    model = build_model(spec)
    model.summary()
    assert f'Model: "{name}"' in capsys.readouterr().out
    compile_model(model, spec)
    x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    y = np.arange(64) % 10
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.name == name
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    loaded.fit(x, y, epochs=1, verbose=0)  # a loaded model trains again
    # and other models in the same process still train (no broken scope left behind)
    other = build_model(load_spec(ROOT / "specs" / "dense_sigmoid.yaml"))
    other.compile(loss="sparse_categorical_crossentropy")
    other.fit(x, y, epochs=1, verbose=0)


def test_unknown_style_is_a_value_error():
    with pytest.raises(ValueError, match="Received: style='tuple'"):
        build_model(load_spec(SPECS[0]), "tuple")


def test_whole_numbers_reach_keras_as_floats_where_keras_wants_floats():
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {type: Dropout, rate: 0}\n  - {units: 10, activation: softmax}\n"
                      "compile:\n  optimizer: {type: SGD, learning_rate: 1, momentum: 0}\n"
                      "  loss: sparse_categorical_crossentropy\n")
    assert spec.optimizer.arguments["learning_rate"] == 1.0
    assert isinstance(spec.optimizer.arguments["learning_rate"], float)  # keras: "should be float" for int 1
    from fmnist_spec.to_keras.builder import compile_model

    model = build_model(spec)
    compile_model(model, spec)
    assert float(model.optimizer.learning_rate) == 1.0 and model.layers[1].rate == 0.0
