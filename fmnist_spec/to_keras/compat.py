"""Every workaround of a Keras or TensorFlow internal, in one place.

Written against TensorFlow 2.21 and Keras 3.15 (the ranges ``pyproject.toml``
pins). Each workaround below says what it works around, which upstream issue
it answers (or that none was found), and which test in ``tests/test_compat.py``
fails when the upstream behaviour it relies on or works around changes; when
such a test fails after an upgrade, read the workaround's note before
deleting or adapting it. :data:`WORKAROUNDS` lists them.

Nothing here imports TensorFlow or Keras at import time: :func:`fast_exit`
and :func:`tensorflow_error_cause` serve commands that may never load them.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import types
from dataclasses import dataclass

TESTED_VERSIONS = {"tensorflow": "2.21", "keras": "3.15"}
"""The TensorFlow and Keras minor versions these workarounds were written and tested against."""


@dataclass(frozen=True)
class Workaround:
    """One workaround: what it is, where it is used, the upstream report, the test that watches it."""

    function: str
    problem: str
    upstream: str
    used_by: str
    test: str


WORKAROUNDS = (
    Workaround(
        "graph_name_scope",
        "Keras 3 opens model.name as a root TensorFlow name scope in fit/evaluate/predict; TensorFlow "
        "rejects names with spaces or non-ASCII letters there ('is not a valid root scope name')",
        "no Keras 3 issue for model names found; same TensorFlow check on layer names: "
        "keras-team/keras#16717 (tf-keras#544), and tensorflow/tensorflow#38754 (the check applies "
        "only in graph mode, so build and summary succeed and fit fails)",
        "to_keras/builder.py build_model, load_model",
        "test_keras_still_opens_the_model_name_as_a_scope, test_non_ascii_model_name_still_fails_without_"
        "the_scope_workaround, test_graph_name_scope_lets_a_non_ascii_model_fit",
    ),
    Workaround(
        "BatchesPerCall (to_keras/steps.py)",
        "Keras's steps_per_execution loop (multi_step_on_iterator) costs about 40 % of a small batch's "
        "time on the CPU; the model's train_step is swapped for one running several batches per call",
        "no upstream issue found (performance, measured in benchmarks/RESULTS.md); related: "
        "keras-team/keras#20344 (steps_per_execution > 32 with tf.data fails)",
        "running/fit.py _plan and fit_default",
        "test_train_step_still_takes_one_data_argument, test_keras_helpers_batches_per_call_uses_still_exist",
    ),
    Workaround(
        "steps_per_execution_under_strategy",
        "under a tf.distribute strategy Keras 3.15's multi-step loop fails ('You must feed a value for "
        "placeholder tensor ... while/cond/Placeholder_1'): one step per call",
        "no upstream issue found for this error; Keras 3 with MultiWorkerMirroredStrategy in general: "
        "keras-team/keras#20585, tensorflow/tensorflow#72388",
        "running/fit.py _build",
        "test_steps_per_execution_still_fails_under_a_mirrored_strategy",
    ),
    Workaround(
        "tensorflow_error_cause",
        "TensorFlow runtime errors start with 'Graph execution error:' and 'Detected at node' lines and "
        "a traceback; the informative line is found by parsing the text",
        "no upstream issue (message format, not a bug)",
        "running/distributed/fit_workers.py fit_multi_worker",
        "test_tensorflow_error_text_still_has_the_parsed_shape",
    ),
    Workaround(
        "import_tensorflow_quietly",
        "importing TensorFlow 2.21 prints absl/oneDNN/cpu_feature_guard notices from C++ to file "
        "descriptor 2; TF_CPP_MIN_LOG_LEVEL silences only some of them, ABSL_MIN_LOG_LEVEL none "
        "(messages logged before absl::InitializeLog() go to stderr regardless)",
        "abseil/abseil-cpp#1718 (messages before absl::InitializeLog() go to stderr), grpc/grpc#37178",
        "cli/commands.py, before each command's first TensorFlow use",
        "test_tensorflow_import_still_prints_startup_notices, test_quiet_import_leaves_out_only_the_startup_notices",
    ),
    Workaround(
        "filtered_stderr",
        "with op determinism TensorFlow 2.21 logs 'E0000 ... NodeDef mentions attribute "
        "use_unbounded_threadpool' from C++ to file descriptor 2 at the first fit, whatever "
        "TF_CPP_MIN_LOG_LEVEL is; descriptor 2 is filtered through a pipe for the length of a command",
        "no upstream issue found",
        "cli/main.py main",
        "test_seeded_fit_still_logs_the_unbounded_threadpool_line, test_filtered_stderr_leaves_out_only_the_noise_in_order",
    ),
    Workaround(
        "silence_retracing_warnings",
        "each Keras 3 model wraps the same Python function in its own tf.function and TensorFlow "
        "2.21 counts their traces together: the fifth model trained in one process logs "
        "'triggered tf.function retracing', although no model retraces",
        "tensorflow/tensorflow#46012 (six models fitted in a loop print the warning; closed "
        "without a fix)",
        "to_keras/compat.py import_tensorflow_quietly (every command)",
        "test_models_in_a_loop_still_trigger_the_retracing_warning, test_retracing_warnings_are_dropped",
    ),
    Workaround(
        "atomic_model_checkpoint",
        "keras.callbacks.ModelCheckpoint saves with model.save(filepath) / save_weights(filepath) in place: "
        "Ctrl-C, a kill or a full disk during the save leaves a truncated file under the checkpoint's "
        "name, which a resumed run then publishes; the subclass saves to a temporary name and renames it "
        "(it replaces the private ModelCheckpoint._save_model, keeping its _get_file_path and "
        "_should_save_model)",
        "no Keras issue found for atomic checkpoint saves (the same request elsewhere: "
        "Lightning-AI/pytorch-lightning#688, #19970)",
        "to_keras/builder.py make_callbacks",
        "test_model_checkpoint_still_saves_in_place_through_its_private_helpers, "
        "test_a_save_cut_short_leaves_no_checkpoint_under_its_name",
    ),
    Workaround(
        "fast_exit",
        "once TensorFlow is imported, interpreter teardown takes 0.5-1.1 s after the work is done "
        "(benchmarks/RESULTS.md); the process runs its atexit handlers, flushes and leaves with os._exit",
        "no upstream issue found",
        "cli/main.py run",
        "test_fast_exit_runs_atexit_handlers_flushes_and_keeps_the_status, "
        "test_private_atexit_runner_still_exists",
    ),
)
"""Every workaround, with its upstream report and its watching test."""


def graph_name_scope(model, name: str) -> None:
    """Make ``model`` open TensorFlow name scopes under ``name``, keeping ``model.name``.

    Keras 3 opens ``model.name`` as a root TensorFlow name scope when it
    builds, trains, evaluates or predicts; TensorFlow rejects names with spaces
    or non-ASCII letters there (see :mod:`fmnist_spec.language.names`). This
    replaces the model instance's ``_open_name_scope`` (a private method of
    ``keras.src.layers.layer.Layer`` in Keras 3.15) so the scope is ``name``
    while summaries and saved files keep the display name. Does nothing when
    ``name`` is already ``model.name``.

    Args:
        model: A Keras 3 model (or layer).
        name: A TensorFlow-safe name (:func:`fmnist_spec.language.names.graph_name`).
    """
    if name == model.name:
        return
    from keras.src.backend import name_scope
    from keras.src.backend.common.name_scope import current_path

    def _open_name_scope(self):
        if self._parent_path is None:
            self._parent_path = current_path()
        return name_scope(name, caller=self)

    object.__setattr__(model, "_open_name_scope", types.MethodType(_open_name_scope, model))


def atomic_model_checkpoint(**arguments):
    """``keras.callbacks.ModelCheckpoint(**arguments)`` whose file is written whole or not at all:
    the model (or its weights) is saved to ``.<name>.tmp-<pid>-...`` beside the checkpoint, then
    renamed over it (:func:`fmnist_spec.files.atomic_write`), so an interrupted save leaves the
    previous checkpoint (or none), never a truncated one.

    Keras 3.15's ``ModelCheckpoint._save_model(epoch, batch, logs)`` formats the path
    (``_get_file_path``), asks ``_should_save_model`` (which also updates ``best``), makes the
    folder and saves in place; this subclass does the same with the save made atomic.

    Args:
        arguments: ``keras.callbacks.ModelCheckpoint``'s arguments (``filepath``, ``monitor``...).
    """
    import keras

    from ..files import atomic_write

    class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
        def _save_model(self, epoch, batch, logs):
            filepath = self._get_file_path(epoch, batch, logs)
            if not self._should_save_model(epoch, batch, logs, filepath):
                return
            os.makedirs(os.path.dirname(filepath) or ".", exist_ok=True)
            if self.save_weights_only:
                atomic_write(filepath, lambda tmp: self.model.save_weights(str(tmp), overwrite=True),
                             suffix=".weights.h5")
            else:
                atomic_write(filepath, lambda tmp: self.model.save(str(tmp), overwrite=True), suffix=".keras")
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    return AtomicModelCheckpoint(**arguments)


def steps_per_execution_under_strategy(steps_per_execution: int, strategy) -> int:
    """The ``steps_per_execution`` to compile with: 1 under a ``tf.distribute`` strategy.

    Args:
        steps_per_execution: The spec's ``compile.steps_per_execution``, >= 1.
        strategy: The ``tf.distribute.Strategy`` the model is built under, or None.
    """
    return 1 if strategy is not None else steps_per_execution


_CONNECTION_WORDS = ("aborted", "unhealthy", "Connection", "Deadline", "crashed")
_NOISE_PREFIXES = ("Graph execution error", "Detected at node", "File ", "[[")
_ROOT_ERRORS = re.compile(r"^\d+ root error\(s\) found\.$")
_ROOT_ERROR_PREFIX = re.compile(r"^\(\d+\) [A-Z_]+:\s*")


def tensorflow_error_cause(message: str, limit: int = 300) -> str:
    """The informative line of a TensorFlow runtime error's text.

    TensorFlow 2.21's ``tf.errors.OpError`` text is ``Graph execution error:``,
    ``Detected at node ... defined at (most recent call last):``, a Python
    traceback of ``File ...`` lines, then the op's own message; with several
    failing ops (one per replica under a strategy) ``N root error(s) found.``
    and one ``(i) INVALID_ARGUMENT:  message`` line each, followed by
    ``[[node ...]]`` lines. A line about a lost peer (connection, deadline,
    aborted collective) wins; otherwise the first line that is none of the
    above, without its ``(i) CODE:`` prefix.

    Args:
        message: ``exc.message`` or ``str(exc)``.
        limit: Longest line returned, in characters.

    Returns:
        One line, at most ``limit`` characters; ``"(no message)"`` for empty text.
    """
    lines = [_ROOT_ERROR_PREFIX.sub("", line.strip()) for line in message.splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in _CONNECTION_WORDS):
            return line[:limit]
    useful = [line for line in lines if not line.startswith(_NOISE_PREFIXES) and not _ROOT_ERRORS.match(line)]
    return (useful or lines or ["(no message)"])[0][:limit]


def fast_exit(status: int) -> None:
    """Leave the process with ``status``, skipping TensorFlow's slow interpreter teardown.

    When TensorFlow was imported, run the ``atexit`` handlers (what the
    interpreter runs first on exit; ``atexit._run_exitfuncs`` is private
    CPython API), flush stdout and stderr and call ``os._exit``; otherwise
    ``sys.exit(status)`` as usual. Call it only once every file is written
    and closed.

    Args:
        status: The exit status, 0..255.
    """
    if "tensorflow" not in sys.modules:
        sys.exit(status)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(status)


STARTUP_NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc:\d+\]"
    r"|^To enable the following instructions: .* rebuild TensorFlow")
"""The start-up lines that :func:`import_tensorflow_quietly` leaves out."""

RUNTIME_NOTICES = re.compile(
    r"node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition")
"""The lines TensorFlow's C++ writes while training that say nothing a user can act on: with op
determinism (a spec's ``seed``) TensorFlow 2.21 rewrites the ParallelMapDatasetV2 that Keras's array
adapter builds into a MapDataset and logs the leftover attribute as an ``E0000`` error line, once per
process (no upstream issue found). :func:`filtered_stderr` leaves them out."""

TENSORFLOW_LOGS = "FMNIST_SPEC_TENSORFLOW_LOGS"
"""Set to 1 to see TensorFlow's own C++ log lines (start-up notices included) as TensorFlow prints
them, with ``TF_CPP_MIN_LOG_LEVEL`` as the user set it (docs/cli.md, "TensorFlow's own logs")."""


def tensorflow_logs_wanted() -> bool:
    """True when the user asked for TensorFlow's own logs (:data:`TENSORFLOW_LOGS` set and not 0)."""
    return os.environ.get(TENSORFLOW_LOGS, "").strip() not in ("", "0")


def _is_noise(line: str) -> bool:
    return bool(STARTUP_NOTICES.search(line) or RUNTIME_NOTICES.search(line))


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras without their C++ start-up notices on stderr.

    Does nothing more than ``import tensorflow, keras`` when TensorFlow is
    already imported or the user asked for TensorFlow's logs
    (:func:`tensorflow_logs_wanted`). Otherwise sets ``TF_CPP_MIN_LOG_LEVEL=2``
    unless the user set it (no INFO/WARNING lines from TensorFlow's C++ later)
    and sends file descriptor 2 to a temporary file during the import; every
    line there that is not a :data:`STARTUP_NOTICES` line is written to stderr
    afterwards, so real errors and Python warnings stay visible. The notices
    are printed whatever ``TF_CPP_MIN_LOG_LEVEL`` is, even 3 (absl writes them
    before it is initialised), so they are left out whatever it is.
    """
    if "tensorflow" in sys.modules or tensorflow_logs_wanted():
        import keras
        import tensorflow
        if not tensorflow_logs_wanted():
            silence_retracing_warnings()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile() as captured:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not _is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
    silence_retracing_warnings()


RETRACING = "triggered tf.function retracing"
"""What TensorFlow's retracing warning says (``WARNING:tensorflow:5 out of the last 5 calls to
<function TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator ...> triggered
tf.function retracing ...``)."""


class _DropRetracing:
    """A :class:`logging.Filter` for the ``tensorflow`` logger that drops :data:`RETRACING` records."""

    def filter(self, record) -> bool:
        return RETRACING not in record.getMessage()


def silence_retracing_warnings() -> None:
    """Drop TensorFlow's "N out of the last N calls to <function ...> triggered tf.function
    retracing" warnings, once per process.

    Every Keras 3 model makes its own ``tf.function`` of the same Python function
    (``TensorFlowTrainer._make_function``'s ``multi_step_on_iterator``), and TensorFlow 2.21
    counts the traces of that function across models: the fifth model trained in one process
    (``compare``, a search's trials) prints the warning although nothing retraces within a
    model. ``keras.backend.clear_session()`` between models does not stop it (measured).
    """
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracing) for f in logger.filters):
        logger.addFilter(_DropRetracing())


def _forward(read_fd: int, write_fd: int) -> None:
    """Copy lines from ``read_fd`` to ``write_fd`` until end of file, leaving out the noise lines."""
    buffer = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            chunk = b""
        buffer += chunk
        if chunk:
            *lines, buffer = buffer.split(b"\n")
            lines = [line + b"\n" for line in lines]
        else:  # end of file: what is left is a last line without its newline
            lines, buffer = [buffer] if buffer else [], b""
        kept = b"".join(line for line in lines if not _is_noise(line.decode("utf-8", "replace")))
        if kept:
            with contextlib.suppress(OSError):
                os.write(write_fd, kept)
        if not chunk:
            return


@contextlib.contextmanager
def filtered_stderr():
    """Leave TensorFlow's :data:`STARTUP_NOTICES` and :data:`RUNTIME_NOTICES` out of file descriptor 2.

    TensorFlow's C++ writes straight to descriptor 2, during ``fit`` as well as at import, so a
    filter around the import alone cannot catch the ``E0000`` line a seeded ``fit`` prints. For the
    length of the block descriptor 2 is a pipe; a thread copies every other line to the real stderr,
    in order. On leaving, descriptor 2 is restored and what is still in the pipe is copied (waiting
    at most 2 s for a child process that still holds the pipe). Does nothing when the user asked for
    TensorFlow's logs (:func:`tensorflow_logs_wanted`).
    """
    import threading

    if tensorflow_logs_wanted():
        yield
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.set_inheritable(saved, False)
    forwarder = threading.Thread(target=_forward, args=(read_fd, saved), name="filtered-stderr", daemon=True)
    forwarder.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        forwarder.join(timeout=2.0)
        if not forwarder.is_alive():  # else a child still holds the pipe: leave both to the thread
            os.close(read_fd)
            os.close(saved)
