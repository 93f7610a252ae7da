"""Saved model -> spec: the round trip for every shipped spec, and clear errors for what specs cannot say."""

import subprocess
import sys

import keras
import pytest

from conftest import ROOT, SPECS
from fmnist_spec import SpecError, build_model, load_spec, parse_spec
from fmnist_spec.to_keras.builder import compile_model
from fmnist_spec.tools.export import export_text


def _architecture(model, spec):
    """Layer by layer: class, config without the names Keras picked itself, output shape, parameters."""
    named = [layer.name is not None for layer in spec.layers]
    rows = []
    for layer, keep in zip(model.layers, named, strict=True):
        config = layer.get_config()
        if not keep:
            config.pop("name")
        rows.append((type(layer).__name__, config, tuple(layer.output.shape), layer.count_params()))
    return rows


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_round_trip_spec_build_save_export_build_gives_the_same_model(path, tmp_path):
    spec = load_spec(path)
    model = build_model(spec)
    compile_model(model, spec)
    model.save(tmp_path / "m.keras")
    text, notes = export_text(tmp_path / "m.keras")
    assert notes == []
    exported = parse_spec(text, "exported.yaml")  # the exported spec validates
    again = build_model(exported)
    assert _architecture(again, exported) == _architecture(model, spec)
    assert [layer.name for layer in exported.layers] == [layer.name for layer in spec.layers]
    assert exported.name == spec.name and again.name == model.name
    assert exported.input_shape == spec.input_shape and exported.flatten == spec.flatten
    assert exported.optimizer.type == spec.optimizer.type
    assert exported.optimizer.arguments == pytest.approx(spec.optimizer.arguments)
    assert exported.loss == spec.loss and exported.metrics == spec.metrics


def test_uncompiled_model_exports_with_a_note(tmp_path):
    model = build_model(load_spec(ROOT / "specs" / "hidden_output.yaml"))
    model.save(tmp_path / "m.keras")
    text, notes = export_text(tmp_path / "m.keras")
    assert "compile:\n  loss: sparse_categorical_crossentropy\n" in text
    assert notes and "uncompiled" in notes[0]
    assert "  - {name: hidden, units: 100, activation: sigmoid, input_shape: [784]}\n" in text
    parse_spec(text)


def test_compiled_model_with_every_spec_argument_round_trips(tmp_path):
    spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {type: Dropout, rate: 0.25, name: drop}\n"
                      "  - {units: 32, activation: tanh, use_bias: false, kernel_initializer: he_normal}\n"
                      "  - {units: 10}\n"
                      "compile:\n  optimizer: {type: Adam, learning_rate: 0.0005, amsgrad: true}\n"
                      "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n"
                      "  metrics: [sparse_categorical_accuracy]\n")
    model = build_model(spec)
    compile_model(model, spec)
    model.save(tmp_path / "m.keras")
    text, _ = export_text(tmp_path / "m.keras")
    assert "  - {type: Dropout, name: drop, rate: 0.25}\n" in text
    assert "  - {units: 32, activation: tanh, use_bias: false, kernel_initializer: he_normal}\n" in text
    assert "  optimizer: {type: Adam, learning_rate: 0.0005, amsgrad: true}\n" in text
    assert "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n" in text
    exported = parse_spec(text)
    assert _architecture(build_model(exported), exported) == _architecture(model, spec)


def test_model_of_a_training_run_exports_to_its_spec(tmp_path, tiny_data_dir):
    from fmnist_spec.running.train import train  # the package attribute is shadowed once the module is imported

    spec = load_spec(ROOT / "specs" / "sgd_nesterov.yaml", ["fit.epochs=1", "data.train_samples=40"])
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir, verbose=0)
    text, notes = export_text(result.out_dir / "model.keras")
    assert notes == []
    assert "  optimizer: {type: SGD, momentum: 0.9, nesterov: true}\n" in text
    exported = parse_spec(text)
    assert _architecture(build_model(exported), exported) == _architecture(result.model, spec)


def _save(model, tmp_path, name="m.keras"):
    path = tmp_path / name
    model.save(path)
    return path


def test_conv1d_is_refused_naming_the_layer(tmp_path):
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Conv1D(4, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(SpecError) as err:
        export_text(_save(model, tmp_path))
    assert err.value.path == "layers[0]"
    assert err.value.message == "layer 'conv' is a Conv1D, which the spec language cannot express"
    assert "Dense, Flatten, Dropout, Conv2D, MaxPooling2D" in err.value.hint


def test_dense_with_kernel_regularizer_is_refused_naming_layer_and_argument(tmp_path):
    model = keras.Sequential([keras.Input(shape=(784,)),
                              keras.layers.Dense(100, activation="relu", name="hidden",
                                                 kernel_regularizer=keras.regularizers.L2(0.01)),
                              keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(SpecError) as err:
        export_text(_save(model, tmp_path))
    assert err.value.path == "layers[0]"
    assert err.value.message.startswith("Dense 'hidden' has kernel_regularizer=L2(l2=0.01")
    assert "kernel_initializer" in err.value.hint


def test_seeded_initializer_and_optimizer_extras_are_refused(tmp_path):
    model = keras.Sequential([keras.Input(shape=(784,)),
                              keras.layers.Dense(10, activation="softmax",
                                                 kernel_initializer=keras.initializers.HeNormal(seed=3))])
    with pytest.raises(SpecError, match=r"kernel_initializer=HeNormal\(seed=3"):
        export_text(_save(model, tmp_path))
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(clipnorm=1.0), loss="sparse_categorical_crossentropy")
    with pytest.raises(SpecError) as err:
        export_text(_save(model, tmp_path, "opt.keras"))
    assert err.value.path == "compile.optimizer" and "clipnorm=1.0" in err.value.message


def test_functional_model_and_invalid_result_are_refused(tmp_path):
    inputs = keras.Input(shape=(784,))
    functional = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
    with pytest.raises(SpecError, match="not a keras.Sequential"):
        export_text(_save(functional, tmp_path))
    five_way = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(5, activation="softmax")])
    with pytest.raises(SpecError) as err:
        export_text(_save(five_way, tmp_path, "five.keras"))
    assert err.value.path == "layers[0].units"
    assert err.value.message.startswith("the exported spec would be invalid: the output layer has 5 units")


def test_lambda_layer_is_refused_by_safe_mode_with_a_clear_message(tmp_path):
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Lambda(lambda x: x * 2),
                              keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(SpecError) as err:
        export_text(_save(model, tmp_path))
    assert err.value.message.startswith("cannot load the model:") and "safe_mode" in err.value.hint


def run(*args):
    return subprocess.run([sys.executable, "-m", "fmnist_spec", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_cli_export_writes_spec_and_exits_2_on_unsupported(tmp_path):
    saved = tmp_path / "relu.keras"
    assert run("build", "specs/sgd.yaml", "--save", str(saved)).returncode == 0
    out = tmp_path / "relu.yaml"
    result = run("export", str(saved), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "note: the file keeps no compile settings" in result.stderr
    assert run("validate", str(out)).returncode == 0
    conv = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Conv1D(4, 3, name="conv"),
                             keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    result = run("export", str(_save(conv, tmp_path, "conv.keras")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"{tmp_path / 'conv.keras'}: layers[0]: layer 'conv' is a Conv1D, which the spec language "
            "cannot express\n  hint: specs have the layer types Dense, Flatten, Dropout, Conv2D, MaxPooling2D, "
            "AveragePooling2D, BatchNormalization, Reshape\n") in result.stderr
    missing = run("export", str(tmp_path / "nope.keras"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert run("export", str(saved), "-o", str(tmp_path / "x.json")).returncode == 2


def test_the_textbooks_best_cnn_model_exports_to_a_spec_that_rebuilds_with_333526_parameters(
        tmp_path, real_data, tiny_data_dir, monkeypatch):
    """ed2-08-2's own code, 1 epoch on a slice, saved by its ModelCheckpoint; then export, evaluate, predict."""
    from fmnist_spec.tools.evaluate import evaluate

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(42)
    train_scaled = real_data.train_images[:300].reshape(-1, 28, 28, 1) / 255.0
    train_target = real_data.train_labels[:300]
    val_scaled, val_target = train_scaled[240:], train_target[240:]
    model = keras.Sequential()
    model.add(keras.layers.Input(shape=(28, 28, 1)))
    model.add(keras.layers.Conv2D(32, kernel_size=3, activation='relu', padding='same'))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Conv2D(64, kernel_size=(3, 3), activation='relu', padding='same'))
    model.add(keras.layers.MaxPooling2D(2))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(100, activation='relu'))
    model.add(keras.layers.Dropout(0.4))
    model.add(keras.layers.Dense(10, activation='softmax'))
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'],
                  jit_compile=False)
    checkpoint_cb = keras.callbacks.ModelCheckpoint('best-cnn-model.keras', save_best_only=True)
    early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model.fit(train_scaled[:240], train_target[:240], epochs=1, verbose=0,
              validation_data=(val_scaled, val_target), callbacks=[checkpoint_cb, early_stopping_cb])
    text, notes = export_text(tmp_path / "best-cnn-model.keras")
    assert notes == []
    assert "  - {type: Conv2D, filters: 32, kernel_size: 3, padding: same, activation: relu, " \
           "input_shape: [28, 28, 1]}\n" in text
    exported = parse_spec(text, "exported.yaml")
    assert exported.input_shape == (28, 28, 1)
    assert build_model(exported).count_params() == 333_526
    assert _architecture(build_model(exported), exported) == \
        _architecture(keras.models.load_model(tmp_path / "best-cnn-model.keras"), exported)
    result = evaluate(tmp_path / "best-cnn-model.keras", data_dir=tiny_data_dir)  # refused before: (28, 28, 1)
    assert result.preparation.sample_shape == (28, 28, 1) and 0 <= result.accuracy <= 1


def test_learning_rate_schedules_round_trip_and_unknown_arguments_are_named(tmp_path):
    for schedule in ("{type: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 100, decay_rate: 0.9, "
                     "staircase: true}",
                     "{type: CosineDecay, initial_learning_rate: 0.01, decay_steps: 100, alpha: 0.1}",
                     "{type: PiecewiseConstantDecay, boundaries: [10, 20], values: [0.1, 0.01, 0.001]}"):
        spec = parse_spec("spec_version: 1\nlayers:\n  - {type: Input, shape: [784]}\n"
                          "  - {type: Reshape, target_shape: [28, 28, 1]}\n"
                          "  - {type: Conv2D, filters: 2, kernel_size: [3, 2], strides: 2}\n"
                          "  - {type: BatchNormalization, momentum: 0.9, center: false}\n"
                          "  - {type: AveragePooling2D, pool_size: 2, strides: 1, padding: same}\n"
                          "  - {type: Flatten}\n  - {units: 10, activation: softmax}\n"
                          f"compile:\n  optimizer: {{type: Adam, learning_rate: {schedule}}}\n"
                          "  loss: sparse_categorical_crossentropy\n")
        model = build_model(spec)
        compile_model(model, spec)
        model.save(tmp_path / "m.keras")
        text, _ = export_text(tmp_path / "m.keras")
        assert f"  optimizer: {{type: Adam, learning_rate: {schedule}}}\n" in text
        exported = parse_spec(text)
        assert exported.optimizer.arguments["learning_rate"] == spec.optimizer.arguments["learning_rate"]
        assert _architecture(build_model(exported), exported) == _architecture(model, spec)
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Conv2D(4, 3, dilation_rate=2),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "dilated.keras")
    with pytest.raises(SpecError) as err:
        export_text(tmp_path / "dilated.keras")
    assert err.value.problems[0].path == "layers[0]" and "dilation_rate=[2, 2]" in err.value.problems[0].message


def test_a_given_automatic_looking_name_is_kept_where_leaving_it_out_would_swap_names(tmp_path):
    """A given ``dense_1`` before an unnamed Dense (Keras: ``dense``) came back as ``dense``,
    ``dense_1``: the two names swapped. A session's ``dense_7``, ``dense_8`` are still left out."""
    keras.backend.clear_session()  # Keras's name counters start again, as in a fresh session
    swapped = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(100, activation="relu", name="dense_1"),
                                keras.layers.Dense(10, activation="softmax")])
    assert [layer.name for layer in swapped.layers] == ["dense_1", "dense"]
    text, _ = export_text(_save(swapped, tmp_path))
    assert [layer.name for layer in build_model(parse_spec(text, "e.yaml")).layers] == ["dense_1", "dense"]
    session = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(100, name="dense_7"),
                                keras.layers.Dense(10, activation="softmax", name="dense_8")])
    text, _ = export_text(_save(session, tmp_path, "s.keras"))
    assert "name:" not in text.split("compile:")[0]
