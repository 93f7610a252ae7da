"""Memory bounded by what a file or spec declares: HDF5 weights, foreign configs, activations, pictures.

Every hostile file is built in tmp_path and is small on disk (a few KB); what it
declares would take gigabytes if read. Each refusal is checked to happen before
that allocation: tracemalloc's peak stays far below it and TensorFlow is not
imported for the archive and spec checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest

from fmnist_spec import SpecError, parse_spec
from fmnist_spec.language import memory
from fmnist_spec.to_keras.archive import ArchiveError, inspect_archive
from fmnist_spec.to_keras.model_config import UncountedModel, declared_model
from fmnist_spec.to_keras.weights_file import WeightsFileError, check_weights_file

PEAK_BYTES = 100 * 2**20
SECONDS = 5.0
BILLION = 10**9


def _dense(name, units, inputs, **extra):
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "use_bias": True, "activation": "softmax", **extra},
            "build_config": {"input_shape": [None, inputs]}}


def _config(*layers, input_shape=(784,)):
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, *input_shape], "name": "input_layer"}}, *layers]}}


def _weights(path, datasets: dict, names: dict | None = None):
    """A weights file in Keras 3's layout: ``{"layers/dense/vars/0": shape}``; nothing is written
    into the datasets (HDF5 gives the fill value), so a 10^9-value dataset takes a few KB."""
    with h5py.File(path, "w") as f:
        for where, shape in datasets.items():
            chunks = (min(2**20, shape[0]),) + tuple(shape[1:]) if shape else None
            f.create_dataset(where, shape=shape, dtype="f4", chunks=chunks,
                             compression="gzip" if chunks else None)
        for group, name in (names or {}).items():
            f[group].attrs["name"] = name
    return path


def _dense_weights(path, kernel=(784, 10)):
    return _weights(path, {"layers/dense/vars/0": kernel, "layers/dense/vars/1": (10,),
                           "optimizer/vars/0": ()}, {"layers/dense/vars": "dense"})


def _archive(path, config, weights_file=None):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", json.dumps(config))
        if weights_file is not None:
            archive.write(weights_file, "model.weights.h5")
    return path


def _measured(call):
    """(exception raised by call(), seconds, peak traced bytes)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - returned for the test to check
        raised = exc
    else:
        raised = None
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)
    return raised


# --- HDF5 weights


def test_a_dataset_declaring_a_billion_floats_is_refused_before_reading(tmp_path):
    path = _dense_weights(tmp_path / "attack.weights.h5", kernel=(BILLION,))
    assert path.stat().st_size < 1_000_000
    exc = _measured(lambda: check_weights_file(path, {"dense": [(784, 10), (10,)]}, 10**6))
    assert isinstance(exc, WeightsFileError)
    assert str(exc) == "/layers/dense/vars/0 declares shape (1000000000,), but the model's variable has shape (784, 10)"


def test_without_layer_names_any_unknown_shape_and_the_byte_budget_are_refused(tmp_path):
    path = _weights(tmp_path / "w.weights.h5", {"optimizer/vars/9": (BILLION,)})
    with pytest.raises(WeightsFileError, match=r"declares shape \(1000000000,\), which no variable"):
        check_weights_file(path, {"dense": [(784, 10), (10,)]}, 10**6, by_name=False)
    many = _weights(tmp_path / "many.weights.h5", {f"optimizer/vars/{i}": (784, 10) for i in range(40)})
    with pytest.raises(WeightsFileError, match="declare more than 100,000 bytes"):
        check_weights_file(many, {"dense": [(784, 10), (10,)]}, 100_000, by_name=False)


def test_a_weights_file_keras_wrote_passes(tmp_path):
    path = _dense_weights(tmp_path / "ok.weights.h5")
    assert check_weights_file(path, {"dense": [(784, 10), (10,)]}, 10**6) == (7840 + 10 + 1) * 4  # kernel, bias, one scalar


def test_links_out_of_the_file_and_external_storage_are_refused(tmp_path):
    path = _dense_weights(tmp_path / "link.weights.h5")
    with h5py.File(path, "a") as f:
        f["layers/extra"] = h5py.ExternalLink("/etc/passwd", "/x")
    with pytest.raises(WeightsFileError, match="ExternalLink"):
        check_weights_file(path, {"dense": [(784, 10), (10,)]}, 10**6)
    external = tmp_path / "ext.weights.h5"
    with h5py.File(external, "w") as f:
        f.create_dataset("optimizer/vars/0", shape=(10,), dtype="f4", external=[("/dev/zero", 0, 40)])
    with pytest.raises(WeightsFileError, match="outside the file"):
        check_weights_file(external, {"dense": [(10,)]}, 10**6)


def test_evaluate_weights_refuses_the_attack_file_without_importing_tensorflow(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                    "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n")
    attack = _dense_weights(tmp_path / "attack.weights.h5", kernel=(BILLION,))
    code = ("import sys\nfrom fmnist_spec.tools.evaluate import _load, InputError\n"
            f"try:\n    _load({str(spec)!r}, {str(attack)!r})\nexcept InputError as e:\n    print(e)\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "declares shape (1000000000,), which no variable of the model has" in out
    assert out.split()[-1] == "False"


# --- .keras archives


def test_a_keras_archive_whose_weights_declare_a_billion_floats_is_refused(tmp_path):
    weights = _dense_weights(tmp_path / "w.h5", kernel=(BILLION,))
    path = _archive(tmp_path / "attack.keras", _config(_dense("dense", 10, 784)), weights)
    exc = _measured(lambda: inspect_archive(path))
    assert isinstance(exc, ArchiveError)
    assert "model.weights.h5 does not fit the model in config.json: /layers/dense/vars/0 declares shape " \
           "(1000000000,), but the model's variable has shape (784, 10)" in str(exc)


def test_a_config_declaring_dense_500000_is_refused_by_its_parameter_count(tmp_path):
    config = _config(_dense("wide", 500_000, 784), _dense("dense", 10, 500_000))
    path = _archive(tmp_path / "wide.keras", config)
    exc = _measured(lambda: inspect_archive(path))
    assert isinstance(exc, ArchiveError)
    assert "config.json declares 397,500,010 parameters" in str(exc) and "limit of 50,000,000" in str(exc)
    assert "layer 'wide' (Dense) alone has 392,500,000" in str(exc)


def test_a_build_config_that_disagrees_with_the_chain_is_refused():
    config = _config(_dense("small", 10, 784), _dense("liar", 10, 1))
    with pytest.raises(UncountedModel, match=r"layer 'liar': its build_config declares the input shape \[None, 1\]"):
        declared_model(config)


def test_layers_that_cannot_be_counted_are_refused_by_name(tmp_path):
    lstm = {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "memory", "units": 10**6}}
    path = _archive(tmp_path / "lstm.keras", _config(lstm))
    with pytest.raises(ArchiveError, match="cannot load it: layer 'memory' \\(LSTM\\): fmnist-spec cannot bound"):
        inspect_archive(path)


def test_a_foreign_model_whose_one_image_needs_gigabytes_of_activations_is_refused(tmp_path):
    conv = {"module": "keras.layers", "class_name": "Conv2D",
            "config": {"name": "wide", "filters": 400_000, "kernel_size": [3, 3], "strides": [1, 1],
                       "padding": "same", "use_bias": True}}
    path = _archive(tmp_path / "conv.keras", _config(conv, input_shape=(28, 28, 1)))
    with pytest.raises(ArchiveError, match=r"one image would need about 1.2 GiB of activations, more than the "
                       r"limit of 1.0 GiB; layer 'wide' \(Conv2D\) outputs 313,600,000 values per image"):
        inspect_archive(path)


def test_declared_model_counts_what_keras_builds():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.Conv2D(6, 3, dilation_rate=2, groups=2),
                              keras.layers.BatchNormalization(center=False), keras.layers.MaxPooling2D(),
                              keras.layers.Flatten(), keras.layers.Dropout(0.1),
                              keras.layers.Dense(10, activation="softmax")])
    declared = declared_model(json.loads(json.dumps({"class_name": "Sequential", "config": model.get_config()})))
    assert declared.parameters == model.count_params()
    assert [r.output_shape for r in declared.rows] == [tuple(layer.output.shape) for layer in model.layers]
    assert declared.variables == {layer.name: [tuple(v.shape) for v in layer.trainable_weights
                                               + layer.non_trainable_weights] for layer in model.layers}


# --- activations and windows in specs

CONV = ("spec_version: 1\nlayers:\n  - {{type: Conv2D, filters: {filters}, kernel_size: {kernel}, padding: same, "
        "activation: relu, input_shape: [28, 28, 1]}}\n  - {{type: MaxPooling2D, pool_size: 28}}\n"
        "  - {{type: Flatten}}\n  - {{units: 10, activation: softmax}}\n"
        "compile: {{loss: sparse_categorical_crossentropy}}\n{fit}")


def _refused(text):
    exc = _measured(lambda: parse_spec(text, "s.yaml"))
    assert isinstance(exc, SpecError), exc
    return exc


def test_100000_filters_are_refused_at_the_filters_key_with_the_batch_that_would_fit():
    exc = _refused(CONV.format(filters=100_000, kernel=3, fit=""))
    assert (exc.path, exc.line, exc.column) == ("layers[0].filters", 3, 29)
    assert "a training batch of 32 images would need about 37.4 GiB" in exc.message
    assert "set fit.batch_size: 3 or less" in exc.hint


def test_2000_filters_train_but_validating_1024_images_at_once_is_refused_with_a_fitting_batch():
    exc = _refused(CONV.format(filters=2000, kernel=3, fit=""))
    assert "an evaluation batch of 1,024 images" in exc.message and "validation_batch_size: 683" in exc.hint
    spec = parse_spec(CONV.format(filters=2000, kernel=3, fit="fit: {validation_batch_size: 256}\n"))
    assert spec.layers[0].arguments["filters"] == 2000


def test_a_250_kernel_with_same_padding_is_refused_and_55_is_accepted():
    exc = _refused(CONV.format(filters=8, kernel=250, fit=""))
    assert exc.path == "layers[0].kernel_size" and "larger than [55, 55]" in exc.message
    parse_spec(CONV.format(filters=8, kernel=55, fit=""))
    assert memory.largest_useful_kernel(28) == 55 and memory.largest_useful_kernel(14) == 27


def test_every_shipped_spec_is_far_below_the_activation_limit():
    from conftest import SPECS

    from fmnist_spec import load_spec
    from fmnist_spec.language.shapes import infer

    for path in SPECS:
        spec = load_spec(path)
        layers = spec.resolved()["layers"]
        rows = infer(layers, spec.input_shape)
        shares = memory.layer_memory(rows, layers)
        need = memory.per_sample_training(shares, int(np.prod(spec.input_shape))) * spec.batch_size
        assert need < memory.MAX_TRAINING_BYTES / 50, (path.name, need)


def test_thread_pools_past_256_are_refused():
    base = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
            "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n")
    exc = _refused(base + "threading: {intra_op_parallelism_threads: 1024, inter_op_parallelism_threads: 1024}\n")
    assert "greater than the maximum of 256" in exc.message
    parse_spec(base + "threading: {intra_op_parallelism_threads: 256, inter_op_parallelism_threads: 256}\n")


def test_evaluation_batches_shrink_to_fit_the_limit():
    assert memory.evaluation_batch_size(6_272_000 * 4, 1024) == 42
    assert memory.evaluation_batch_size(1000, 1024) == 1024
    assert memory.evaluation_batch_size(2**31, 1024) == 1


# --- pictures


def test_mistakes_count_past_the_limit_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "inspect", "m.keras", "--mistakes",
                             "--count", "10000", "-o", "x.png"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "expected a whole number from 1 to 100" in result.stderr
    assert "Traceback" not in result.stderr


def test_feature_maps_of_a_20000_channel_layer_draw_at_most_max_tiles_within_max_pixels(tmp_path):
    from fmnist_spec.tools.inspect import FeatureMaps
    from fmnist_spec.tools.pictures import MAX_PIXELS, MAX_TILES, draw_feature_maps

    maps = FeatureMaps("wide", np.zeros((28, 28), np.uint8), "test image 0", 0,
                       np.random.default_rng(0).random((1, 1, 20_000), dtype=np.float32), 0, 0.5)
    figure = draw_feature_maps(maps, tmp_path / "maps.png")
    width, height = figure.get_size_inches() * figure.dpi
    assert width * height <= MAX_PIXELS * 1.01
    assert f"feature maps 0..{MAX_TILES - 1} of 20,000" in figure.axes[1].get_title()


def test_every_new_limit_is_in_docs_limits_md_with_its_value():
    from conftest import ROOT

    from fmnist_spec.to_keras import archive, weights_file
    from fmnist_spec.tools import pictures

    text = (ROOT / "docs" / "limits.md").read_text()
    for name, value in {"MAX_TRAINING_BYTES": f"{memory.MAX_TRAINING_BYTES // 2**30} GiB",
                        "MAX_EVALUATION_BYTES": f"{memory.MAX_EVALUATION_BYTES // 2**30} GiB",
                        "MAX_MISTAKES": f"1 to {pictures.MAX_MISTAKES}",
                        "MAX_TILES": f"{pictures.MAX_TILES:,} filters",
                        "MAX_PIXELS": f"{pictures.MAX_PIXELS:,}"}.items():
        assert f"`{name}`" in text and value in text, name
    assert f"at most {weights_file.MAX_OBJECTS:,} groups and datasets" in text
    assert f"{archive.BYTES_PER_PARAMETER} bytes per parameter + {archive.BYTES_SCALARS // 1024} KiB" in text
    assert "| 256 each" in text and "55 on 28x28" in text


_MEASURE = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(done.stderr)\n"
            "print(f'@peak_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
            "sys.exit(done.returncode)\n")
CLI_PEAK_KB = 300 * 1024
"""Below TensorFlow's import alone (about 600 MB): the refusal comes before it."""


def _attack_files(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                    "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n")
    weights = _dense_weights(tmp_path / "attack.weights.h5", kernel=(BILLION,))
    bomb = _archive(tmp_path / "h5bomb.keras", _config(_dense("dense", 10, 784)), weights)
    wide = _archive(tmp_path / "wide.keras", _config(_dense("wide", 500_000, 784), _dense("dense", 10, 500_000)))
    return spec, weights, bomb, wide


@pytest.mark.parametrize("command", ["evaluate --weights", "evaluate", "predict", "inspect", "export", "wide"])
def test_the_command_line_refuses_each_attack_file_before_importing_tensorflow(command, tmp_path):
    from conftest import ROOT

    spec, weights, bomb, wide = _attack_files(tmp_path)
    args = {"evaluate --weights": ["evaluate", spec, "--weights", weights], "evaluate": ["evaluate", bomb],
            "predict": ["predict", bomb, tmp_path / "any.png"], "export": ["export", bomb],
            "inspect": ["inspect", bomb, "--mistakes", "-o", tmp_path / "m.png"], "wide": ["evaluate", wide]}[command]
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "fmnist_spec", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    err, _, peak = done.stderr.rpartition("@peak_kb=")
    assert done.returncode == 2 and "Traceback" not in err, err
    expected = ("config.json declares 397,500,010 parameters" if command == "wide"
                else "declares shape (1000000000,)")
    assert expected in err, err
    assert int(peak) < CLI_PEAK_KB, peak


def test_mirrored_replicas_in_one_process_count_together():
    text = CONV.format(filters=2000, kernel=3, fit="fit: {validation_batch_size: 32}\n") + (
        "distribute: {strategy: mirrored, devices: ['/cpu:0', '/cpu:1', '/cpu:2', '/cpu:3'], "
        "per_replica_batch_size: 64}\n")
    exc = _refused(text)
    assert "a training batch of 256 images" in exc.message  # 64 on each of 4 replicas: 23.9 MiB each
    assert "set distribute.per_replica_batch_size: 42 or less" in exc.hint
