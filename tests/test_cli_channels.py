"""Output channels that never raise, and TensorFlow's start-up lines kept off the terminal.

Real subprocesses: a closed stdout or stderr (the child closes the descriptor
before exec, as ``>&-`` does), a pipe whose reader went away, and
``PYTHONIOENCODING`` encodings that cannot show the model name
``패션 MNIST 모델`` of specs/hidden_output.yaml.
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

HIDDEN = "specs/hidden_output.yaml"
STARTUP_LINES = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                 "cpu_feature_guard", "To enable the following instructions")


def _env(**changes):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(changes)
    return env


def cli(*args, env=None, closing=(), **kwargs):
    """Run ``python -m fmnist_spec ARGS``; the descriptors in ``closing`` are closed in the child."""
    def close():
        for fd in closing:
            os.close(fd)
    return subprocess.run([sys.executable, "-m", "fmnist_spec", *map(str, args)], cwd=ROOT,
                          env=env or _env(), preexec_fn=close if closing else None, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def hidden_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "hidden.keras"
    done = cli("build", HIDDEN, "--save", path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path


# --- TensorFlow's start-up lines ------------------------------------------------------------------


def test_build_shows_no_tensorflow_startup_lines():
    done = cli("build", "specs/relu_adam.yaml", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "built " in done.stdout
    assert not [line for line in done.stderr.splitlines() if any(s in line for s in STARTUP_LINES)], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("level", ["0", "3"])
def test_no_startup_lines_whatever_the_log_level(level):
    done = cli("build", "specs/relu_adam.yaml", env=_env(TF_CPP_MIN_LOG_LEVEL=level), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(s in line for s in STARTUP_LINES)], done.stderr


def test_tensorflow_logs_are_shown_when_asked_for():
    done = cli("build", "specs/relu_adam.yaml", env=_env(FMNIST_SPEC_TENSORFLOW_LOGS="1", TF_CPP_MIN_LOG_LEVEL="0"),
               capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # what this TensorFlow build prints at import (the oneDNN line only on some CPUs)
    assert [line for line in done.stderr.splitlines() if any(s in line for s in STARTUP_LINES)], done.stderr


def test_seeded_train_prints_no_tensorflow_lines(tmp_path, tiny_data_dir):
    """A seed turns on op determinism, and TensorFlow then logs an E0000 NodeDef line during fit."""
    done = cli("train", "specs/dropout.yaml", "--epochs", "1", "--out", tmp_path / "run", "--data-dir", tiny_data_dir,
               capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "E0000" not in done.stderr and "NodeDef" not in done.stderr, done.stderr
    assert not [line for line in done.stderr.splitlines() if any(s in line for s in STARTUP_LINES)], done.stderr


def test_other_lines_written_during_the_import_stay_visible(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "tensorflow.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on. You may see\\n')\n"
        "os.write(2, b'E0000 real_error.cc:9] could not load libfoo.so\\n')\n")
    (fake / "keras.py").write_text("")
    code = "from fmnist_spec.to_keras.compat import import_tensorflow_quietly as q; q()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=_env(PYTHONPATH=f"{fake}{os.pathsep}{ROOT}"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "E0000 real_error.cc:9] could not load libfoo.so\n"


# --- closed channels ---------------------------------------------------------------------------


def test_closed_stdout_keeps_the_work_and_exits_1(tmp_path):
    saved = tmp_path / "m.keras"
    done = cli("build", HIDDEN, "--summary", "--save", saved, closing=(1,), stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "AttributeError" not in done.stderr
    assert "error: the output could not be written to stdout (stdout is closed)" in done.stderr
    assert saved.stat().st_size > 10_000  # the work is kept
    assert not list(tmp_path.glob(".*"))  # no temporary file left next to it


def test_closed_stdout_does_not_hide_bad_input():
    done = cli("validate", "tests/bad_specs/unit_negative.yaml", closing=(1,), stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2 and "layers[2].units" in done.stderr and "Traceback" not in done.stderr


def test_closed_stderr_still_gives_the_output_and_the_status():
    done = cli("validate", "tests/bad_specs/unit_negative.yaml", HIDDEN, closing=(2,),
               stdout=subprocess.PIPE, text=True)
    assert done.returncode == 2
    assert done.stdout.startswith(f"{HIDDEN}: valid (")


def test_closed_stdout_and_stderr_train_writes_the_run(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    done = cli("train", "specs/relu_adam.yaml", "--epochs", "1", "--data-dir", tiny_data_dir, "--out", out,
               closing=(1, 2))
    assert done.returncode == 1
    assert json.loads((out / "metrics.json").read_text())["status"] == "finished"
    assert (out / "model.keras").is_file()


# --- a pipe whose reader went away -------------------------------------------------------------


def _with_reader_gone(*args):
    """Run the CLI with stdout a pipe that is closed before the child writes; (status, stderr)."""
    read, write = os.pipe()
    process = subprocess.Popen([sys.executable, "-m", "fmnist_spec", *map(str, args)], cwd=ROOT, env=_env(),
                               stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    os.close(read)  # like `| head -0`: nobody will read what the command prints
    _, err = process.communicate(timeout=600)
    return process.returncode, err


def test_broken_pipe_gives_no_traceback_and_exits_1():
    status, err = _with_reader_gone("codegen", HIDDEN)
    assert status == 1 and err == "", err  # no traceback, no "Exception ignored" either


def test_train_into_a_broken_pipe_still_finishes_the_run(tiny_data_dir, tmp_path):
    out = tmp_path / "run"
    status, err = _with_reader_gone("train", "specs/relu_adam.yaml", "--epochs", "2", "--set", "fit.verbose=1",
                                    "--data-dir", tiny_data_dir, "--out", out)
    assert status == 1 and "Traceback" not in err and "BrokenPipeError" not in err, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == 2
    assert (out / "model.keras").is_file()


# --- encodings that cannot show the text -------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("args", [
    ["validate", "--summary", HIDDEN], ["render", HIDDEN], ["codegen", HIDDEN],
    ["build", "--summary", HIDDEN], ["build", "--format", "json", HIDDEN], ["export", "MODEL"],
], ids=["validate", "render", "codegen", "build-summary", "build-json", "export"])
def test_text_the_encoding_cannot_show_is_escaped(args, encoding, hidden_model):
    args = [hidden_model if a == "MODEL" else a for a in args]
    done = cli(*args, env=_env(PYTHONIOENCODING=encoding), capture_output=True)
    stderr = done.stderr.decode(encoding)
    assert done.returncode == 0, stderr
    assert "Traceback" not in stderr and "UnicodeEncodeError" not in stderr
    out = done.stdout.decode(encoding)
    assert "\\ud328\\uc158 MNIST \\ubaa8\\ub378" in out  # 패션 MNIST 모델, escaped
    if "json" in args:
        assert json.loads(out)["result"]["name"] == "패션 MNIST 모델"  # \\u escapes are JSON's own
