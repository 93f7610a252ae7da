"""Generated scripts are run (on tiny IDX files) and must build what build_model builds."""

import ast
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import ROOT, SPECS, write_fashion_dir
from fmnist_spec import build_model, load_spec, parse_spec
from fmnist_spec.to_keras.builder import make_optimizer
from fmnist_spec.tools.codegen import callback_variables, generate

STYLES = ("list", "add")

EXTRA = """\
spec_version: 1
name: every argument
seed: 7
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {type: Dropout, rate: 0.3, name: drop}
  - {units: 32, activation: tanh, use_bias: false, kernel_initializer: he_normal}
  - {units: 10, name: logits}
compile:
  optimizer: {type: Adam, learning_rate: 0.0005, amsgrad: true}
  loss: {type: SparseCategoricalCrossentropy, from_logits: true}
  metrics: [sparse_categorical_accuracy]
fit: {epochs: 2, batch_size: 16, verbose: 2}
data: {train_samples: 40, scale: 127.5, validation: {test_size: 0.25, random_state: 1}}
"""
"""A spec that uses every argument the shipped specs leave out; run last (it turns on op determinism)."""

LESSONS = """\
spec_version: 1
layers:
  - {type: Input, shape: [784]}
  - {type: Reshape, target_shape: [28, 28, 1]}
  - {type: Conv2D, filters: 4, kernel_size: [3, 2], strides: 2, use_bias: false, kernel_initializer: he_normal, name: conv}
  - {type: BatchNormalization, momentum: 0.9, epsilon: 0.01, center: false}
  - {type: AveragePooling2D, pool_size: 2, strides: 1, padding: same}
  - {type: MaxPooling2D, pool_size: [2, 2]}
  - {type: Flatten}
  - {units: 10, activation: softmax}
compile:
  optimizer: {type: SGD, learning_rate: {type: PiecewiseConstantDecay, boundaries: [2], values: [0.1, 0.01]}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: 3
  callbacks:
    - {type: ModelCheckpoint, filepath: ckpt/best.weights.h5, save_weights_only: true, monitor: val_accuracy, mode: max}
    - {type: EarlyStopping, monitor: loss, min_delta: 0.0001, patience: 5, start_from_epoch: 1}
    - {type: EarlyStopping, patience: 4}
data: {train_samples: 40, validation: {test_size: 0.25, random_state: 1}}
"""
"""The lessons' new layers, a schedule and callbacks with every argument the shipped specs leave out."""

PLATEAU = """\
spec_version: 1
layers:
  - {type: Flatten, input_shape: [28, 28, 1]}
  - {units: 10, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: {type: CosineDecay, initial_learning_rate: 0.001, decay_steps: 100, alpha: 0.1, warmup_target: 0.002, warmup_steps: 2}}
  loss: sparse_categorical_crossentropy
fit:
  epochs: 2
  callbacks: [{type: ReduceLROnPlateau, monitor: loss, factor: 0.5, patience: 1, min_delta: 0.01, min_lr: 0.00001}]
data: {train_samples: 40, validation: {test_size: 0.25, random_state: 1}}
"""
"""ReduceLROnPlateau needs a fixed rate; checked with one and, separately, a CosineDecay generated (not run)."""

MIXED = """\
spec_version: 1
dtype_policy: mixed_bfloat16
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu, input_shape: [28, 28, 1]}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Flatten}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1}
data: {train_samples: 40, validation: {test_size: 0.25, random_state: 1}}
"""
"""A mixed-precision CNN: the script sets Keras's policy and keeps the softmax float32."""

# Runs every generated script in one process (keras.backend.clear_session between them)
# and records what each built and how it was compiled and fitted.
RUNNER = """
import json, runpy, sys
import keras
out = {}
record, scripts = sys.argv[1], sys.argv[2:]
for script in scripts:
    keras.backend.clear_session()
    sys.argv = [script]  # the data directory comes from $FASHION_MNIST_DIR
    namespace = runpy.run_path(script, run_name="__main__")
    model = namespace["model"]
    out[script] = {
        "name": model.name,
        "layers": model.get_config()["layers"],
        "params": [layer.count_params() for layer in model.layers],
        "total": model.count_params(),
        "optimizer": model.optimizer.get_config(),
        "optimizer_class": type(model.optimizer).__name__,
        "loss": model.loss if isinstance(model.loss, str) else model.loss.get_config(),
        "metrics": model.get_compile_config()["metrics"],
        "epochs_run": len(model.history.history["loss"]),
        "history_keys": sorted(model.history.history),
        "callbacks": sorted(k for k, v in namespace.items() if isinstance(v, keras.callbacks.Callback)),
        "files": sorted(str(p) for p in __import__("pathlib").Path(".").rglob("*.*") if p.suffix in (".keras", ".h5")),
    }
out["fmnist_spec imported"] = any(m.startswith("fmnist_spec") for m in sys.modules)
with open(record, "w") as fh:
    json.dump(out, fh, default=str)
"""


def _layers_without_auto_names(layers, named):
    """get_config()['layers'] with the names Keras picked itself removed (they count up per process)."""
    out = []
    for entry, keep in zip(layers, named, strict=True):
        entry = json.loads(json.dumps(entry, default=str))
        if not keep:
            entry["config"].pop("name")
        out.append(entry)
    return out


def _same_layers(ran, expected, named) -> bool:
    """The script's layers equal ``expected``'s, apart from the names Keras picked itself."""
    return _layers_without_auto_names(ran["layers"], named) == \
        _layers_without_auto_names(expected.get_config()["layers"], named)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Every shipped spec in both styles, generated, run in one subprocess; the runner's record."""
    tmp = tmp_path_factory.mktemp("codegen")
    data_dir = write_fashion_dir(tmp / "fashion", n_train=60, n_test=20)
    scripts = {}
    for path in SPECS:
        for style in STYLES:
            script = tmp / f"{path.stem}_{style}.py"
            script.write_text(generate(load_spec(path), style), encoding="utf-8")
            scripts[(path.name, style)] = script
    plateau = parse_spec(PLATEAU.replace("{type: CosineDecay, initial_learning_rate: 0.001, decay_steps: 100, "
                                         "alpha: 0.1, warmup_target: 0.002, warmup_steps: 2}", "0.01"))
    for name, spec in (("lessons.yaml", parse_spec(LESSONS, "lessons.yaml")), ("plateau.yaml", plateau),
                       ("mixed.yaml", parse_spec(MIXED, "mixed.yaml")), ("extra.yaml", parse_spec(EXTRA, "extra.yaml"))):
        for style in STYLES:
            script = tmp / f"{name[:-5]}_{style}.py"
            script.write_text(generate(spec, style), encoding="utf-8")
            scripts[(name, style)] = script
    record = tmp / "record.json"
    env = {"FASHION_MNIST_DIR": str(data_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp)}
    result = subprocess.run([sys.executable, "-c", RUNNER, str(record), *map(str, scripts.values())],
                            capture_output=True, text=True, cwd=tmp, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return scripts, json.loads(record.read_text()), result


CASES = [(path, style) for path in SPECS for style in STYLES]


@pytest.mark.parametrize("path,style", CASES, ids=[f"{p.stem}-{s}" for p, s in CASES])
def test_generated_script_builds_the_same_model_as_build_model(generated, path, style):
    scripts, record, _ = generated
    ran = record[str(scripts[(path.name, style)])]
    spec = load_spec(path)
    if spec.dtype_policy == "auto":  # resolved per machine by train only; the script keeps float32
        spec = replace(spec, dtype_policy="float32")
    expected = build_model(spec, style)
    named = [False] + [layer.name is not None for layer in spec.layers]  # InputLayer first
    assert _same_layers(ran, expected, named)
    assert [entry["class_name"] for entry in ran["layers"]] == \
        ["InputLayer"] + [layer.type for layer in spec.layers]
    assert ran["params"] == [layer.count_params() for layer in expected.layers]
    assert ran["total"] == expected.count_params()


def test_generated_script_with_every_argument_builds_compiles_and_fits_as_the_spec_says(generated):
    scripts, record, _ = generated
    spec = parse_spec(EXTRA, "extra.yaml")
    for style in STYLES:
        ran = record[str(scripts[("extra.yaml", style)])]
        expected = build_model(spec, style)
        named = [False, False, True, False, True]
        assert _same_layers(ran, expected, named)
        assert ran["params"] == [0, 0, 25_088, 330] and ran["total"] == expected.count_params()
        assert ran["optimizer_class"] == "Adam" and ran["optimizer"]["amsgrad"] is True
        assert ran["optimizer"]["learning_rate"] == pytest.approx(0.0005)
        assert ran["loss"]["from_logits"] is True
        assert ran["metrics"] == ["sparse_categorical_accuracy"] and ran["epochs_run"] == 2
        assert ran["name"] == "every_argument_" + ran["name"].rsplit("_", 1)[1]  # graph-safe form


def test_generated_script_of_a_mixed_policy_sets_it_and_keeps_the_last_layer_float32(generated):
    scripts, record, _ = generated
    spec = parse_spec(MIXED, "mixed.yaml")
    for style in STYLES:
        text = scripts[("mixed.yaml", style)].read_text("utf-8")
        assert "keras.config.set_dtype_policy('mixed_bfloat16')" in text
        assert text.index("set_dtype_policy") < text.index("model = keras.Sequential")
        ran = record[str(scripts[("mixed.yaml", style)])]
        assert _same_layers(ran, build_model(spec, style), [False] * 5)
        policies = [entry["config"]["dtype"]["config"]["name"] for entry in ran["layers"][1:]]
        assert policies == ["mixed_bfloat16"] * 3 + ["float32"] and ran["epochs_run"] == 1


def test_generated_script_of_auto_keeps_float32_and_says_why():
    cnn = generate(load_spec(ROOT / "specs" / "cnn.yaml"))
    assert "keras.config.set_dtype_policy(" not in cnn and "dtype='float32'" not in cnn
    assert "# dtype_policy is auto: fmnist-spec train computes this Conv2D model in mixed" in cnn
    mlp = generate(load_spec(ROOT / "specs" / "relu_adam.yaml"))
    explicit = generate(load_spec(ROOT / "specs" / "cnn.yaml", overrides=["dtype_policy=float32"]))
    for script in (mlp, explicit):  # float32, and auto without a Conv2D layer: nothing new
        assert "dtype_policy" not in script and "dtype='float32'" not in script


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_generated_script_compiles_and_fits_as_the_spec_says(generated, path):
    scripts, record, _ = generated
    spec = load_spec(path)
    optimizer = make_optimizer(spec)
    if isinstance(optimizer, str):
        import keras

        optimizer = keras.optimizers.get(optimizer)
    wanted = optimizer.get_config()
    for style in STYLES:
        ran = record[str(scripts[(path.name, style)])]
        assert ran["optimizer_class"] == type(optimizer).__name__
        for key in ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "rho"):
            if key in wanted:
                assert ran["optimizer"][key] == pytest.approx(wanted[key]), key
        assert ran["loss"] == spec.loss.name
        assert ran["metrics"] == list(spec.metrics)
        assert ran["callbacks"] == sorted(callback_variables(spec))
        if any(c.type == "EarlyStopping" for c in spec.callbacks):
            assert 1 <= ran["epochs_run"] <= spec.epochs
        else:
            assert ran["epochs_run"] == spec.epochs
        for callback in spec.callbacks:
            if callback.type == "ModelCheckpoint":
                assert callback.arguments["filepath"] in ran["files"]
        assert "val_loss" in ran["history_keys"]  # validated on the train_test_split hold-out


def test_generated_script_of_the_lessons_layers_schedule_and_callbacks_runs_as_the_spec_says(generated):
    scripts, record, _ = generated
    spec = parse_spec(LESSONS, "lessons.yaml")
    for style in STYLES:
        ran = record[str(scripts[("lessons.yaml", style)])]
        expected = build_model(replace(spec, dtype_policy="float32"), style)  # auto: the script keeps float32
        named = [False, False, True, False, False, False, False, False]
        assert _same_layers(ran, expected, named)
        assert ran["total"] == expected.count_params()
        schedule = ran["optimizer"]["learning_rate"]
        assert schedule["class_name"] == "PiecewiseConstantDecay"
        assert schedule["config"]["boundaries"] == [2] and schedule["config"]["values"] == [0.1, 0.01]
        assert ran["callbacks"] == ["checkpoint_cb", "early_stopping_cb", "early_stopping_cb_2"]
        assert "ckpt/best.weights.h5" in ran["files"] and 1 <= ran["epochs_run"] <= 3
        plateau = record[str(scripts[("plateau.yaml", style)])]
        assert plateau["callbacks"] == ["reduce_lr_cb"] and plateau["epochs_run"] == 2
    _check_lessons_text(spec)


def _flat(text):
    return " ".join(text.split())


def _check_lessons_text(spec):
    text = generate(spec, "list")
    assert ("lr_schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[2], "
            "values=[0.1, 0.01])\nmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=lr_schedule),") in text
    assert "keras.layers.Input(shape=(784,))" in text and "keras.Input(" not in text
    assert ("checkpoint_cb = keras.callbacks.ModelCheckpoint('ckpt/best.weights.h5', monitor='val_accuracy', "
            "save_weights_only=True, mode='max')") in _flat(text)
    cosine = generate(parse_spec(PLATEAU.replace(", callbacks: [", ", callbacks_: [").replace(
        "  callbacks: [{type: ReduceLROnPlateau, monitor: loss, factor: 0.5, patience: 1, min_delta: 0.01, "
        "min_lr: 0.00001}]\n", "")))
    assert ("lr_schedule = keras.optimizers.schedules.CosineDecay(initial_learning_rate=0.001, decay_steps=100, "
            "alpha=0.1, warmup_target=0.002, warmup_steps=2)") in _flat(cosine)
    compile(cosine, "<generated>", "exec")


def test_cnn_script_reshapes_the_images_as_the_notebook_does():
    text = generate(load_spec(ROOT / "specs" / "cnn.yaml"), "add")
    assert "train_scaled = train_input.reshape(-1, 28, 28, 1) / 255.0" in text
    assert "model.add(keras.layers.Conv2D(32, kernel_size=3, padding='same', activation='relu'))" in text
    assert "model.add(keras.layers.MaxPooling2D(2))" in text
    assert "checkpoint_cb = keras.callbacks.ModelCheckpoint('best-cnn-model.keras', save_best_only=True)" in text
    assert "early_stopping_cb = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)" in text
    assert "callbacks=[checkpoint_cb, early_stopping_cb])" in text


def test_generated_scripts_import_no_project_code(generated):
    scripts, record, _ = generated
    assert record["fmnist_spec imported"] is False
    for script in scripts.values():
        tree = ast.parse(script.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported <= {"gzip", "os", "sys", "keras", "numpy", "sklearn", "tensorflow"}, imported


def test_generated_scripts_pass_ruff_and_py_compile(generated):
    scripts, _, _ = generated
    files = [str(s) for s in scripts.values()]
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,W,F,B,I",
                           "--line-length", "99", *files], capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    for f in files:
        subprocess.run([sys.executable, "-m", "py_compile", f], check=True)


def test_list_and_add_styles_read_as_the_notes_write_them():
    spec = load_spec(ROOT / "specs" / "hidden_output.yaml")
    as_list = generate(spec, "list")
    assert ("model = keras.Sequential([\n    keras.Input(shape=(784,)),\n"
            "    keras.layers.Dense(100, activation='sigmoid', name='hidden'),\n"
            "    keras.layers.Dense(10, activation='softmax', name='output'),\n"
            "], name='MNIST_9e382a')\n") in as_list
    assert "'패션 MNIST 모델'" in as_list  # the display name is kept in a comment
    assert "model.compile(loss='sparse_categorical_crossentropy', metrics=['accuracy'])" in as_list
    assert ("train_scaled, val_scaled, train_target, val_target = train_test_split(\n"
            "    train_scaled, train_target, test_size=0.2, random_state=42\n)") in as_list
    assert "train_scaled = train_input.reshape(-1, 28 * 28) / 255.0" in as_list
    as_add = generate(load_spec(ROOT / "specs" / "relu_flatten.yaml"), "add")
    assert ("model = keras.Sequential()\nmodel.add(keras.Input(shape=(28, 28)))\n"
            "model.add(keras.layers.Flatten())\nmodel.add(keras.layers.Dense(100, activation='relu'))\n"
            "model.add(keras.layers.Dense(10, activation='softmax'))\n") in as_add
    assert "reshape(-1, 28 * 28)" not in as_add


def test_optimizer_mapping_becomes_a_keras_optimizer_call():
    text = generate(load_spec(ROOT / "specs" / "sgd.yaml"))
    assert "model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1)," in text
    assert "optimizer='adam'" in generate(load_spec(ROOT / "specs" / "relu_adam.yaml"))


def test_other_arguments_seed_samples_logits_and_verbose_are_written():
    spec = parse_spec("spec_version: 1\nseed: 7\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                      "  - {type: Dropout, rate: 0.3, name: drop}\n"
                      "  - {units: 10, use_bias: false, kernel_initializer: zeros}\n"
                      "compile:\n  optimizer: {type: Adam, learning_rate: 0.0005, amsgrad: true}\n"
                      "  loss: {type: SparseCategoricalCrossentropy, from_logits: true}\n"
                      "fit: {epochs: 2, batch_size: 64, verbose: 2}\n"
                      "data: {train_samples: 600, scale: 127.5, validation: {test_size: 0.5, random_state: null}}\n")
    text = generate(spec, "add")
    assert "keras.utils.set_random_seed(7)\ntf.config.experimental.enable_op_determinism()" in text
    assert "model.add(keras.layers.Dropout(0.3, name='drop'))" in text
    assert "model.add(keras.layers.Dense(10, use_bias=False, kernel_initializer='zeros'))" in text
    assert "keras.optimizers.Adam(learning_rate=0.0005, amsgrad=True)" in text
    assert "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)" in text
    assert "epochs=2, batch_size=64, verbose=2," in text
    assert "train_input, train_target = train_input[:600], train_target[:600]" in text
    assert "train_scaled = train_input / 127.5" in text and "random_state=None" in text
    compile(text, "<generated>", "exec")


def test_cli_codegen_writes_a_script_that_runs_from_the_shell(tmp_path):
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=40, n_test=10)
    out = tmp_path / "relu_adam.py"
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen", "specs/relu_adam.yaml",
                             "--style", "list", "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out} (list style)"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    run = subprocess.run([sys.executable, str(out), str(data_dir)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                         "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Epoch 5/5" in run.stdout and "Total params: 79,510" in run.stdout
    missing = subprocess.run([sys.executable, str(out), str(tmp_path / "nowhere")], capture_output=True,
                             text=True, timeout=300)
    assert missing.returncode == 1 and "expected the four Fashion-MNIST files" in missing.stderr


def test_cli_codegen_prints_to_stdout_and_rejects_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen", "specs/sgd.yaml"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "keras.optimizers.SGD(learning_rate=0.1)" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen", "specs/sgd.yaml", "-o", "x.txt"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "must end in .py" in bad.stderr
    invalid = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen",
                              "tests/bad_specs/unit_negative.yaml"], capture_output=True, text=True, cwd=ROOT)
    assert invalid.returncode == 2 and "layers[2].units" in invalid.stderr


def test_codegen_and_render_do_not_import_tensorflow():
    code = ("import sys, io, contextlib; from fmnist_spec.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    status = [main(['codegen', 'specs/sgd.yaml', '--set', 'fit.epochs=1']),"
            " main(['render', 'specs/relu_adam.yaml'])]\n"
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[0, 0] False False", result.stderr


def test_threading_written_as_numbers_becomes_tf_config_threading_and_auto_writes_nothing():
    base = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
            "  - {units: 10, activation: softmax}\n"
            "compile: {loss: sparse_categorical_crossentropy}\n")
    text = generate(parse_spec(base + "threading: {intra_op_parallelism_threads: 2, "
                                      "inter_op_parallelism_threads: auto}\n"), "list")
    assert "import tensorflow as tf" in text
    assert "tf.config.threading.set_intra_op_parallelism_threads(2)" in text
    assert "inter_op_parallelism_threads" not in text
    compile(text, "<generated>", "exec")
    plain = generate(parse_spec(base), "list")
    assert "tf.config.threading" not in plain and "import tensorflow" not in plain


def test_the_readme_shows_the_lines_codegen_writes_for_its_example():
    """The README's first code block is the model, compile and fit lines of codegen's script of
    specs/hidden_output.yaml, line for line (it showed input_shape= and the Korean name once)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("```python\n", 1)[1].split("```", 1)[0]
    script = generate(load_spec(ROOT / "specs" / "hidden_output.yaml"))
    assert shown.strip() and all(line in script.splitlines() for line in shown.splitlines()), shown
    assert shown.strip().splitlines()[0] in script and shown.rstrip().splitlines()[-1] in script
