"""The adversarial corpus: hostile and foreign files, each pinned to its message and exit status.

Files that would take gigabytes if read naively are built small (a few MB on
disk) and refused by a subprocess whose peak memory is measured with
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` in a fresh wrapper process,
so earlier tests' children do not count. "No code ran" tests check a marker
file that the payload would create.
"""

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import hostile_files as hostile
from conftest import ROOT, write_fashion_dir
from fmnist_spec import SpecError, load_spec, parse_spec, train
from fmnist_spec.cli import main
from fmnist_spec.running.data import read_dir
from fmnist_spec.tools.evaluate import InputError, evaluate, load, predict
from fmnist_spec.tools.export import export_text

PEAK_KB = 1024 * 1024  # 1 GiB, as ru_maxrss counts it on Linux (kilobytes)
SECONDS = 60  # the whole subprocess, TensorFlow's import included, on a busy machine
BIG = 1_200_000_000  # bytes a naive reader would hold at least once: above the memory bound

_MEASURE = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
            "print(f'@peak_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
            "sys.exit(done.returncode)\n")


def refused(*args, env=None):
    """Run ``fmnist-spec *args`` in a measured subprocess: (status, stderr, peak KB, seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "fmnist_spec", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    seconds = time.perf_counter() - start
    err, _, peak = done.stderr.rpartition("@peak_kb=")
    return done.returncode, err, int(peak), seconds


def assert_refused(status, err, peak, seconds, *, message, code=2):
    assert status == code, err
    assert message in err, err
    assert "Traceback" not in err and "Warning" not in err, err
    assert peak < PEAK_KB and seconds < SECONDS, (peak, seconds)


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A 28x28 -> Dense(10, softmax) model saved by Keras."""
    path = tmp_path_factory.mktemp("valid") / "valid.keras"
    keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax", name="output")]).save(path)
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "shirt.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(path)
    return path


@pytest.fixture
def empty_tmpdir(tmp_path):
    """An environment whose TMPDIR is an empty folder, to see what a command writes there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder, {**os.environ, "TMPDIR": str(folder)}


# --- .keras archives: bounded memory and disk


def test_a_config_json_that_inflates_to_gigabytes_is_refused_unread(valid, tmp_path, image):
    bomb = hostile.config_bomb(tmp_path / "config.keras", BIG)
    assert bomb.stat().st_size < 10_000_000
    assert_refused(*refused("predict", bomb, image), message=f"{bomb}: the member config.json unpacks to "
                   f"{BIG + 11:,} bytes, more than the limit of 8,388,608")


def test_weights_that_inflate_to_gigabytes_are_refused_unread(valid, tmp_path, image):
    bomb = hostile.weights_bomb(tmp_path / "weights.keras", valid, BIG)
    assert_refused(*refused("predict", bomb, image), message="the member model.weights.h5 unpacks to "
                   f"{BIG:,} bytes, more than the limit of 1,073,741,824")


def test_weights_larger_than_the_declared_layers_need_are_refused(valid, tmp_path):
    members = hostile.valid_members(valid)
    members["model.weights.h5"] = os.urandom(3_000_000)  # incompressible: a ratio of 1
    bomb = hostile.keras_archive(tmp_path / "weights.keras", members)
    with pytest.raises(InputError, match=r"unpacks to 3,000,000 bytes, but the 3 layers in config.json "
                       r"declare 7,850 parameters, which need at most 1,286,128 bytes"):
        load(bomb)


def test_many_members_are_refused_before_keras_extracts_them_to_disk(valid, tmp_path, image, empty_tmpdir):
    folder, env = empty_tmpdir
    bomb = hostile.many_members(tmp_path / "many.keras", valid, 4, 200_000_000)
    assert_refused(*refused("predict", bomb, image, env=env),
                   message="the archive has 7 members, more than the limit of 4")
    assert list(folder.iterdir()) == []


def test_a_deflated_member_past_the_ratio_limit_is_refused(valid, tmp_path):
    members = hostile.valid_members(valid)
    members["model.weights.h5"] = (b"", b"\0", 5_000_000, b"")
    with pytest.raises(InputError, match="a compression ratio over the limit of 100"):
        load(hostile.keras_archive(tmp_path / "ratio.keras", members))


def test_a_zip_member_path_outside_the_archive_is_refused_and_nothing_written(valid, tmp_path, image):
    (tmp_path / "a" / "b").mkdir(parents=True)
    bomb = hostile.traversal(tmp_path / "a" / "b" / "t.keras", valid)
    assert_refused(*refused("predict", bomb, image),
                   message="the archive has an unexpected member '../../fmnist_spec_traversal.txt'")
    assert not (tmp_path / "fmnist_spec_traversal.txt").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"", "not a valid Keras archive (no zip end record: the file is empty, truncated or not a zip file)"),
    (b"not a zip", "not a valid Keras archive (no zip end record"),
    ("half", "not a valid Keras archive (no zip end record"),
])
def test_a_truncated_empty_or_non_zip_file_is_not_a_valid_keras_archive(valid, tmp_path, image, content,
                                                                        message, capsys):
    path = tmp_path / "broken.keras"
    path.write_bytes(valid.read_bytes()[: valid.stat().st_size // 2] if content == "half" else content)
    for command in (["predict", str(path), str(image)], ["evaluate", str(path)], ["export", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert message in err and "File not found" not in err


def test_a_keras_path_that_is_a_directory_or_a_device_says_so(valid, tmp_path, image, capsys):
    (tmp_path / "folder.keras").mkdir()
    (tmp_path / "zero.keras").symlink_to("/dev/zero")
    for name, what in (("folder.keras", "a directory, not a file"),
                       ("zero.keras", "a character device, not a regular file")):
        for command in (["predict", str(tmp_path / name), str(image)], ["evaluate", str(tmp_path / name)]):
            assert main(command) == 2
            assert f"error: {tmp_path / name}: {what}" in capsys.readouterr().err
        with pytest.raises(SpecError) as err:  # the CLI's argument check refuses a directory first
            export_text(tmp_path / name)
        assert err.value.message.startswith(what)


# --- code in a model file never runs


MARKER = "fmnist_spec_payload_ran"


@pytest.fixture
def lambda_model(tmp_path):
    """A model whose Lambda layer creates the marker file when called; the marker is removed after saving."""
    marker = tmp_path / MARKER
    payload = eval(f"lambda x: (open({str(marker)!r}, 'a').close(), x)[1]")
    model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Lambda(payload),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)
    return tmp_path / "lambda.keras", marker


def _rewrite_config(source: Path, target: Path, edit) -> Path:
    members = hostile.valid_members(source)
    config = json.loads(members["config.json"])
    edit(config["config"]["layers"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _os_system_layer(marker):
    return {"module": "os", "class_name": "system", "config": f"touch {marker}", "registered_name": None}


def _os_system_activation(layers, marker):
    layers[-1]["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system",
                                          "registered_name": "function"}


PAYLOADS = {
    "lambda bytecode": lambda layers, marker: None,
    "os.system as a layer": lambda layers, marker: layers.insert(1, _os_system_layer(marker)),
    "os.system as an activation": _os_system_activation,
    "enable_unsafe_deserialization before the lambda": lambda layers, marker: layers.insert(1, {
        "module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
        "registered_name": "function"}),
}


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_no_code_from_a_model_file_runs_in_predict_evaluate_or_export(lambda_model, tmp_path, image, payload,
                                                                       capsys):
    saved, marker = lambda_model
    path = _rewrite_config(saved, tmp_path / "payload.keras", lambda layers: PAYLOADS[payload](layers, marker))
    for command in (["predict", str(path), str(image)], ["evaluate", str(path)], ["export", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "cannot load" in err and "Traceback" not in err
        assert not marker.exists()


# --- foreign models in evaluate, predict and export


def _save(model, tmp_path, name="foreign.keras"):
    model.save(tmp_path / name)
    return tmp_path / name


FOREIGN = {
    "5 units": (lambda: keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                                          keras.layers.Dense(5, activation="softmax")]),
                "the model's output has shape (None, 5); expected (None, 10)"),
    "1000 units": (lambda: keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(1000)]),
                   "the model's output has shape (None, 1000); expected (None, 10)"),
    "(None, 28, 10)": (lambda: keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Dense(10)]),
                       "the model's output has shape (None, 28, 10); expected (None, 10)"),
}


def _two_outputs():
    inputs = keras.Input(shape=(784,))
    return keras.Model(inputs, [keras.layers.Dense(10)(inputs), keras.layers.Dense(10)(inputs)])


FOREIGN["two outputs"] = (_two_outputs, "the model has 2 outputs ((None, 10), (None, 10)); a Fashion-MNIST "
                                        "classifier has one, of shape (None, 10)")


@pytest.mark.parametrize("case", list(FOREIGN))
def test_a_model_that_cannot_be_a_fashion_mnist_classifier_is_refused_by_evaluate_and_predict(
        case, tmp_path, image, capsys):
    make, message = FOREIGN[case]
    path = _save(make(), tmp_path)
    assert main(["predict", str(path), str(image)]) == 2
    assert f"error: {path}: {message}" in capsys.readouterr().err
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=20, n_test=10)
    assert main(["evaluate", str(path), "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("case", "message"), [
    ("5 units", "the exported spec would be invalid: the output layer has 5 units"),
    ("two outputs", "not a keras.Sequential"),
    ("(None, 28, 10)", "the exported spec would be invalid"),
])
def test_export_refuses_the_same_foreign_models(case, message, tmp_path, capsys):
    path = _save(FOREIGN[case][0](), tmp_path)
    assert main(["export", str(path)]) == 2
    assert message in capsys.readouterr().err


SOFTMAXES = {
    "Dense(activation='softmax')": ([keras.layers.Dense(10, activation="softmax", name="out")],
                                    "Dense layer 'out' with activation='softmax'"),
    "Activation('softmax')": ([keras.layers.Dense(10, name="out"), keras.layers.Activation("softmax", name="act")],
                              "Activation('softmax') layer 'act'"),
    "Softmax()": ([keras.layers.Dense(10, name="out"), keras.layers.Softmax(name="probs")],
                  "Softmax layer 'probs'"),
}


@pytest.mark.parametrize("case", list(SOFTMAXES))
def test_a_final_softmax_is_recognised_however_expressed(case, tmp_path, image):
    keras.utils.set_random_seed(1)
    last, found = SOFTMAXES[case]
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(), *last])
    path = _save(model, tmp_path)
    _, preparation, _ = load(path)
    assert not preparation.from_logits and found in preparation.source
    expected = model.predict(np.full((1, 28, 28), 200 / 255.0, np.float32), verbose=0)[0]
    [prediction] = predict(path, [image])
    assert prediction.probability == pytest.approx(float(expected.max()), rel=1e-5)  # not softmax twice
    data = read_dir(write_fashion_dir(tmp_path / "fashion", n_train=20, n_test=10))
    probabilities = model.predict(data.test_images.astype(np.float32) / 255.0, verbose=0)
    loss = keras.losses.sparse_categorical_crossentropy(data.test_labels.astype(np.int64), probabilities)
    assert evaluate(path, data=data).loss == pytest.approx(float(np.mean(loss)), rel=1e-4)


def test_a_model_without_a_final_softmax_is_taken_as_logits_and_says_so(tmp_path):
    path = _save(keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10)]), tmp_path)
    _, preparation, _ = load(path)
    assert preparation.from_logits and "no final softmax: logits" in preparation.source


# --- images


def test_a_huge_png_is_refused_from_its_header_without_a_raw_warning(tmp_path, valid):
    bomb = hostile.png(tmp_path / "rgba.png", 13000, 13000)
    assert bomb.stat().st_size < 1024 * 1024
    assert_refused(*refused("predict", valid, bomb), message=f"{bomb}: refused before decoding: Image size "
                   "(169000000 pixels) exceeds limit")


@pytest.mark.parametrize("side", [10000, 20000])
def test_pillows_decompression_bomb_guard_becomes_one_clear_error(tmp_path, valid, side, capsys):
    bomb = hostile.png(tmp_path / "gray.png", side, side, color_type=0, rows=False)
    assert main(["predict", str(valid), str(bomb)]) == 2
    err = capsys.readouterr().err
    assert f"{bomb}: refused before decoding: Image size ({side * side} pixels) exceeds limit" in err


def test_a_large_image_under_pillows_guard_is_refused_before_decoding(tmp_path, valid):
    big = hostile.png(tmp_path / "big.png", 9000, 9000)  # 81 M pixels, 324 MB as RGBA
    assert_refused(*refused("predict", valid, big), message=f"{big}: 9000x9000 image in mode RGBA; expected "
                   "28x28 8-bit grayscale")


def test_an_image_file_over_the_byte_limit_is_refused_unopened(tmp_path, valid, capsys):
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2 * 1024 * 1024))
    assert main(["predict", str(valid), str(path)]) == 2
    assert "the file has 2,097,160 bytes, more than the limit of 1,048,576" in capsys.readouterr().err


def _gif(path):
    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


IMAGES = {
    "16-bit": (lambda p: Image.fromarray(np.zeros((28, 28), np.uint16)).save(p) or p, "28x28 image in mode I;16"),
    "palette": (lambda p: Image.new("P", (28, 28)).save(p) or p, "28x28 image in mode P"),
    "RGBA": (lambda p: Image.new("RGBA", (28, 28)).save(p) or p, "28x28 image in mode RGBA"),
    "1x1": (lambda p: Image.new("L", (1, 1)).save(p) or p, "1x1 image in mode L"),
    "animated GIF": (_gif, "an image of 2 frames (an animation)"),
    "truncated PNG": (lambda p: (p.write_bytes(_png_bytes()[:60]), p)[1], "cannot read it as an image"),
    "directory": (lambda p: p.mkdir() or p, "a directory, not a file"),
    "device": (lambda p: p.symlink_to("/dev/zero") or p, "a character device, not a regular file"),
}


def _png_bytes():
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("case", list(IMAGES))
def test_images_that_are_not_28x28_grayscale_are_refused_with_their_reason(case, tmp_path, valid, capsys):
    make, message = IMAGES[case]
    path = make(tmp_path / ("image.gif" if "GIF" in case else "image.png"))
    assert main(["predict", str(valid), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: " in err and message in err and "Traceback" not in err


# --- IDX data files


def test_an_idx_gz_with_gigabytes_of_trailing_zeros_is_refused_after_the_declared_bytes(tmp_path, valid):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=50, n_test=20)
    hostile.idx_with_trailing_zeros(data_dir / "train-images-idx3-ubyte.gz", 50, BIG)
    assert_refused(*refused("evaluate", valid, "--data-dir", data_dir), code=1,
                   message="train-images-idx3-ubyte.gz: the header declares (50, 28, 28) = 39,200 bytes "
                           "of data, the file holds more")


def test_an_idx_header_declaring_too_much_is_refused_before_reading(tmp_path, valid, capsys):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=50, n_test=20)
    hostile.idx_declaring(data_dir / "train-images-idx3-ubyte.gz", (4_000_000_000, 28, 28))
    assert main(["evaluate", str(valid), "--data-dir", str(data_dir)]) == 1
    assert ("the header declares (4000000000, 28, 28) = 3,136,000,000,000 bytes of data, more than the limit "
            "of 78,400,000 (100,000 images of 28x28)") in capsys.readouterr().err


@pytest.mark.parametrize(("make", "message"), [(lambda p: p.mkdir(), "a directory, not a file"),
                                               (lambda p: p.symlink_to("/dev/zero"), "a character device")])
def test_an_idx_path_that_is_a_directory_or_device_says_so(tmp_path, valid, make, message, capsys):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=50, n_test=20)
    (data_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    make(data_dir / "t10k-labels-idx1-ubyte.gz")
    assert main(["evaluate", str(valid), "--data-dir", str(data_dir)]) == 1
    assert f"t10k-labels-idx1-ubyte.gz: {message}" in capsys.readouterr().err


# --- specs: finite numbers, the layer limit, extends


SPEC = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy, optimizer: adam}\n")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN", "1e400"])
@pytest.mark.parametrize("command", ["validate", "render", "codegen"])
def test_non_finite_numbers_in_set_are_errors_at_their_column(tmp_path, value, command, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    assert main([command, str(spec), "--set", f"data.validation.test_size={value}"]) == 2
    err = capsys.readouterr().err
    assert f"--set data.validation.test_size={value}:1:27: data.validation.test_size: {value} is " in err
    assert "a spec takes finite numbers only" in err and "hint: write a finite number" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("key", ["learning_rate", "beta_1", "epsilon"])
def test_non_finite_optimizer_arguments_in_a_file_are_errors_at_their_line(key):
    text = SPEC.replace("optimizer: adam", f"optimizer: {{type: Adam, {key}: .nan}}")
    with pytest.raises(SpecError) as err:
        parse_spec(text, "s.yaml")
    assert (err.value.line, err.value.message) == (5, ".nan is not a number; a spec takes finite numbers only")


def test_a_quoted_nan_is_text_where_text_belongs():
    assert parse_spec("name: '.nan'\n" + SPEC).name == ".nan"


def _deep_spec(layers: int) -> str:
    return ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
            + "  - {units: 1, activation: relu}\n" * (layers - 2)
            + "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n")


def test_a_spec_at_the_layer_limit_builds_saves_and_loads_in_both_styles(tmp_path):
    from fmnist_spec import build_model, load_model
    from fmnist_spec.files import save_model
    from fmnist_spec.source.limits import MAX_LAYERS

    spec = parse_spec(_deep_spec(MAX_LAYERS))
    start = time.perf_counter()
    assert len(build_model(spec, "list").layers) == MAX_LAYERS
    save_model(build_model(spec, "add"), tmp_path / "add.keras")
    loaded = load_model(tmp_path / "add.keras")  # Keras loads by .add(), as the add style builds
    assert len(loaded.layers) == MAX_LAYERS and loaded.output_shape == (None, 10)
    assert time.perf_counter() - start < 120  # about 15 s on 2 cores shared with other test runs
    with pytest.raises(SpecError, match=f"more than {MAX_LAYERS} layers"):
        parse_spec(_deep_spec(MAX_LAYERS + 1))


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.mkdir(), "the base spec 'base.yaml' is a directory, not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "the base spec 'base.yaml' is a character device, not a regular file"),
])
def test_extends_naming_a_directory_or_a_device_says_so(tmp_path, make, message):
    make(tmp_path / "base.yaml")
    spec = tmp_path / "s.yaml"
    spec.write_text("extends: base.yaml\n" + SPEC)
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    assert (err.value.line, err.value.column) == (1, 10) and message in err.value.message


def test_a_spec_path_that_is_a_device_is_refused_without_reading(capsys):
    assert main(["validate", "/dev/zero"]) == 2
    assert "/dev/zero: is a character device, not a regular file" in capsys.readouterr().err


# --- what the tool writes, it reads back


def test_a_run_of_a_spec_named_1e3_can_be_evaluated(tmp_path):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=30, n_test=10)
    text = 'name: "1e3"\ndescription: "yes"\n' + SPEC + "fit: {epochs: 1, verbose: 0}\n"
    result = train(parse_spec(text), out=tmp_path / "run", data_dir=data_dir)
    assert 'name: "1e3"' in (result.out_dir / "spec.yaml").read_text()
    assert load_spec(result.out_dir / "spec.yaml").name == "1e3"
    assert evaluate(result.out_dir, data_dir=data_dir).preparation.source.endswith("spec.yaml")


_TEXT = st.text(max_size=40)
_RESOLVED = st.fixed_dictionaries({
    "spec_version": st.just(1), "name": _TEXT, "description": _TEXT,
    "layers": st.lists(st.fixed_dictionaries({"name": _TEXT, "units": st.integers(1, 10**6),
                                              "activation": st.sampled_from(["relu", "softmax", "yes", "null"])}),
                       min_size=1, max_size=3),
    "compile": st.fixed_dictionaries({"optimizer": st.fixed_dictionaries({
        "type": st.just("Adam"), "learning_rate": st.floats(1e-12, 1e12, allow_nan=False),
        "epsilon": st.floats(0, 1, allow_nan=False)})}),
    "data": st.fixed_dictionaries({"validation": st.fixed_dictionaries({
        "test_size": st.floats(0, 1), "random_state": st.one_of(st.none(), st.integers(-2**63, 2**63))})}),
    "warnings": st.fixed_dictionaries({"ignore": st.lists(_TEXT, max_size=3)}),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_RESOLVED)
def test_write_yaml_output_reads_back_as_the_same_values(tmp_path, data):
    from fmnist_spec.files import write_yaml
    from fmnist_spec.source.yaml_source import read_source

    path = tmp_path / "spec.yaml"
    write_yaml(path, data)
    assert read_source(path).data == data


@pytest.mark.parametrize("text", ["1e3", "yes", "null", "010", ".nan", "~", "true", "0o17", "0x1F", "-.inf", ""])
def test_strings_that_look_like_other_yaml_types_are_quoted(tmp_path, text):
    from fmnist_spec.files import write_yaml

    write_yaml(tmp_path / "s.yaml", {"name": text})
    written = (tmp_path / "s.yaml").read_text()
    assert written in (f'name: "{text}"\n', f"name: '{text}'\n")
    assert load_spec_data(tmp_path / "s.yaml") == {"name": text}


def load_spec_data(path):
    from fmnist_spec.source.yaml_source import read_source

    return read_source(path).data
