"""Each workaround in fmnist_spec.to_keras.compat, and the upstream behaviour it relies on or works
around: these tests fail when a Keras or TensorFlow upgrade changes that behaviour."""

import atexit
import inspect
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from fmnist_spec.to_keras import compat

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _python(code: str, timeout: int = 240, log_level: str = "3") -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a failed TensorFlow name scope poisons its process)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": log_level, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def test_every_workaround_names_its_upstream_report_and_its_tests():
    names = {w.function.split(" ")[0] for w in compat.WORKAROUNDS}
    assert names == {"graph_name_scope", "BatchesPerCall", "steps_per_execution_under_strategy",
                     "import_tensorflow_quietly", "filtered_stderr", "silence_retracing_warnings",
                     "tensorflow_error_cause", "fast_exit", "atomic_model_checkpoint"}
    here = open(__file__, encoding="utf-8").read()
    for workaround in compat.WORKAROUNDS:
        assert workaround.upstream and workaround.used_by
        for test in workaround.test.split(", "):
            assert f"def {test}(" in here, test


def test_tested_versions_are_the_installed_ones():
    import keras
    import tensorflow as tf

    assert keras.__version__.startswith(compat.TESTED_VERSIONS["keras"] + ".")
    assert tf.__version__.startswith(compat.TESTED_VERSIONS["tensorflow"] + ".")


# --- graph_name_scope


def test_keras_still_opens_the_model_name_as_a_scope():
    import keras
    from keras.src.backend import name_scope  # noqa: F401  the workaround's imports
    from keras.src.backend.common.name_scope import current_path  # noqa: F401

    assert "_open_name_scope" in vars(keras.layers.Layer)
    assert list(inspect.signature(keras.layers.Layer._open_name_scope).parameters) == ["self"]
    assert "_parent_path" in inspect.getsource(keras.layers.Layer._open_name_scope)


_FIT_NAMED = """
import numpy as np, keras
from fmnist_spec.to_keras import compat
def fit(fixed):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")],
                             name="패션 MNIST 모델")
    if fixed:
        compat.graph_name_scope(model, "MNIST_1c7f0b")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int32"), epochs=1, verbose=0)
    return model.name
"""


def test_graph_name_scope_lets_a_non_ascii_model_fit():
    result = _python(_FIT_NAMED + "print(fit(True))")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("패션 MNIST 모델")  # the display name is kept


def test_non_ascii_model_name_still_fails_without_the_scope_workaround():
    """When this fails, TensorFlow or Keras accept such names now: graph_name_scope can go."""
    result = _python(_FIT_NAMED + "fit(False)")
    assert result.returncode != 0
    assert "is not a valid root scope name" in result.stderr


# --- BatchesPerCall (to_keras/steps.py)


def test_train_step_still_takes_one_data_argument():
    import keras

    assert list(inspect.signature(keras.Model.train_step).parameters) == ["self", "data"]


def test_keras_helpers_batches_per_call_uses_still_exist():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=3)
    assert model.steps_per_execution == 3
    assert hasattr(model, "train_function") and hasattr(model, "test_function")
    assert callable(model.get_metrics_result)
    assert callable(keras.utils.unpack_x_y_sample_weight)
    assert issubclass(keras.callbacks.ProgbarLogger, keras.callbacks.Callback)


# --- steps_per_execution_under_strategy and tensorflow_error_cause


def test_steps_per_execution_under_strategy_is_one_only_under_a_strategy():
    assert compat.steps_per_execution_under_strategy(100, None) == 100
    assert compat.steps_per_execution_under_strategy(100, object()) == 1


_MIRRORED = """
import json, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from fmnist_spec.to_keras import compat
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.random.rand(64, 4).astype("float32"); y = np.random.randint(0, 3, 64)
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
out = {}
for steps in (4, compat.steps_per_execution_under_strategy(4, strategy)):
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=steps)
    try:
        model.fit(ds, epochs=1, verbose=0)
        out[steps] = "ok"
    except tf.errors.OpError as exc:
        out[steps] = {"text": exc.message, "cause": compat.tensorflow_error_cause(exc.message)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def mirrored():
    import json

    result = _python(_MIRRORED)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_steps_per_execution_still_fails_under_a_mirrored_strategy(mirrored):
    """When the first assertion fails, Keras's multi-step loop works under a strategy: drop the workaround."""
    assert mirrored["4"] != "ok"
    assert mirrored["4"]["cause"].startswith("You must feed a value for placeholder tensor")
    assert mirrored["1"] == "ok"


def test_tensorflow_error_text_still_has_the_parsed_shape(mirrored):
    lines = [line.strip() for line in mirrored["4"]["text"].splitlines() if line.strip()]
    assert lines[0] == "Graph execution error:"
    assert lines[1].startswith("Detected at node ")
    assert any(line.startswith("File ") for line in lines)
    assert "2 root error(s) found." in lines  # one failing op per replica
    assert any(line.startswith("(0) INVALID_ARGUMENT:") for line in lines)


def test_tensorflow_error_cause_prefers_a_lost_peer():
    text = ("Graph execution error:\n\nDetected at node x defined at (most recent call last):\n"
            '  File "a.py", line 1\nCollective ops is aborted by: Connection reset by peer\n')
    assert compat.tensorflow_error_cause(text) == "Collective ops is aborted by: Connection reset by peer"
    assert compat.tensorflow_error_cause("") == "(no message)"
    assert len(compat.tensorflow_error_cause("x" * 1000)) == 300


# --- fast_exit


def test_private_atexit_runner_still_exists():
    assert callable(atexit._run_exitfuncs)


def test_fast_exit_runs_atexit_handlers_flushes_and_keeps_the_status(tmp_path):
    marker = tmp_path / "atexit-ran"
    code = f"""
    import atexit, sys
    import tensorflow
    from fmnist_spec.to_keras import compat
    atexit.register(lambda: open({str(marker)!r}, "w").write("yes"))
    sys.stdout.write("unflushed")
    compat.fast_exit(3)
    """
    result = _python(code)
    assert result.returncode == 3 and result.stdout == "unflushed" and marker.read_text() == "yes"


def test_fast_exit_exits_the_usual_way_without_tensorflow():
    result = _python("import sys\nfrom fmnist_spec.to_keras import compat\ncompat.fast_exit(4)\n"
                     "print('tensorflow' in sys.modules)")
    assert result.returncode == 4 and "tensorflow" not in result.stderr


def test_pyproject_pins_the_tested_minor_versions():
    """pyproject.toml admits exactly the Keras and TensorFlow minor versions the workarounds were tested on."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    pins = [Requirement(r) for r in project["dependencies"]]
    tested = {"keras": compat.TESTED_VERSIONS["keras"], "tensorflow": compat.TESTED_VERSIONS["tensorflow"],
              "tensorflow-cpu": compat.TESTED_VERSIONS["tensorflow"]}
    for req in pins:
        if req.name in tested:
            minor = tested[req.name]
            assert f"{minor}.0" in req.specifier and f"{minor}.99" in req.specifier, req
            major, number = minor.split(".")
            assert f"{major}.{int(number) + 1}.0" not in req.specifier, req
            assert f"{major}.{int(number) - 1}.0" not in req.specifier, req
    assert {req.name for req in pins} >= set(tested)
    installed = [req for req in pins if req.name in tested and (req.marker is None or req.marker.evaluate())]
    assert installed and all(version(req.name) in req.specifier for req in installed)


# --- import_tensorflow_quietly ------------------------------------------------------------------
def _import_stderr(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_tensorflow_import_still_prints_startup_notices():
    """When this fails, TensorFlow stopped printing its start-up notices: the workaround can go."""
    err = _import_stderr("import tensorflow")
    assert compat.STARTUP_NOTICES.search(err), err


def test_quiet_import_leaves_out_only_the_startup_notices():
    err = _import_stderr("import sys; from fmnist_spec.to_keras.compat import import_tensorflow_quietly as q; q(); "
                         "print('after', file=sys.stderr)")
    assert not compat.STARTUP_NOTICES.search(err), err
    assert err.strip().endswith("after")


# --- filtered_stderr -------------------------------------------------------------------------------
def test_seeded_fit_still_logs_the_unbounded_threadpool_line():
    """When this fails, TensorFlow stopped logging the E0000 line under op determinism: the filter can go."""
    done = _python("""
        import numpy as np, keras, tensorflow as tf
        keras.utils.set_random_seed(1)
        tf.config.experimental.enable_op_determinism()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        model.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int32"), epochs=1, verbose=0)
        """, log_level="2")
    assert done.returncode == 0, done.stderr
    assert compat.RUNTIME_NOTICES.search(done.stderr), done.stderr


def test_filtered_stderr_leaves_out_only_the_noise_in_order():
    code = ("import os, sys\n"
            "from fmnist_spec.to_keras.compat import filtered_stderr\n"
            "with filtered_stderr():\n"
            "    print('one', file=sys.stderr, flush=True)\n"
            "    os.write(2, b'E0000 00:00:1.2 5 node_def_util.cc:682] NodeDef mentions attribute "
            "use_unbounded_threadpool which is not in the op definition: Op<...>\\n')\n"
            "    os.write(2, b'E0000 real_error.cc:9] could not load libfoo.so\\n')\n"
            "    print('two, no newline', end='', file=sys.stderr, flush=True)\n"
            "print(' after', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "one\nE0000 real_error.cc:9] could not load libfoo.so\ntwo, no newline after\n"


# --- silence_retracing_warnings --------------------------------------------------------------------
_MODELS_IN_A_LOOP = """
    import numpy as np, keras
    x, y = np.zeros((64, 4), "float32"), np.zeros(64, "int32")
    for _ in range(7):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", steps_per_execution=4)
        model.fit(x, y, epochs=1, verbose=0)
    print("trained")
    """


def test_models_in_a_loop_still_trigger_the_retracing_warning():
    """When this fails, TensorFlow stopped warning about the models of one process: the filter can go."""
    done = _python(_MODELS_IN_A_LOOP)
    assert done.returncode == 0, done.stderr
    assert compat.RETRACING in done.stderr, done.stderr


def test_retracing_warnings_are_dropped():
    quiet = "from fmnist_spec.to_keras.compat import import_tensorflow_quietly as q; q()\n"
    done = _python(quiet + textwrap.dedent(_MODELS_IN_A_LOOP))
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr
    assert compat.RETRACING not in done.stderr, done.stderr
def _half_saving_model(monkeypatch):
    """A small compiled model whose ``save`` writes half a file, then is interrupted (Ctrl-C)."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(loss="mse")

    def save(path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", save)
    return model


def test_model_checkpoint_still_saves_in_place_through_its_private_helpers(tmp_path, monkeypatch):
    import keras

    for name in ("_save_model", "_get_file_path", "_should_save_model"):
        assert callable(getattr(keras.callbacks.ModelCheckpoint, name, None)), name
    assert list(inspect.signature(keras.callbacks.ModelCheckpoint._save_model).parameters) == [
        "self", "epoch", "batch", "logs"]
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"))
    checkpoint.set_model(_half_saving_model(monkeypatch))
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    assert (tmp_path / "best.keras").read_bytes().endswith(b"half a zip")  # Keras leaves it truncated


def test_a_save_cut_short_leaves_no_checkpoint_under_its_name(tmp_path, monkeypatch):
    checkpoint = compat.atomic_model_checkpoint(filepath=str(tmp_path / "sub" / "best-{epoch:02d}.keras"))
    checkpoint.set_model(_half_saving_model(monkeypatch))
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(0, {"val_loss": 1.0})
    assert list((tmp_path / "sub").iterdir()) == []  # neither the checkpoint nor its temporary file



def test_retracing_filter_drops_only_that_warning(caplog):
    import logging

    compat.silence_retracing_warnings()
    compat.silence_retracing_warnings()
    logger = logging.getLogger("tensorflow")
    assert sum(isinstance(f, compat._DropRetracing) for f in logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 5 calls to <function f> %s", compat.RETRACING)
        logger.warning("another warning")
    assert [r.getMessage() for r in caplog.records] == ["another warning"]
