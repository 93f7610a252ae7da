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
        "drop_retracing_warnings",
        "every new model's training function is a new tf.function of the same Python function, so from "
        "the fifth model in one process (a notebook's cells) TensorFlow logs 'triggered tf.function "
        "retracing' warnings that no spec can avoid; a filter on the 'tensorflow' logger drops them",
        "tensorflow/tensorflow#34025 (the warning for Keras models created in a loop)",
        "notebook/magic.py load_ipython_extension, fmnist_spec.train in a kernel",
        "test_tensorflow_still_warns_of_retracing_with_several_models, test_retracing_filter_drops_only_that_warning",
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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras without their C++ start-up notices on stderr.

    Does nothing more than ``import tensorflow, keras`` when TensorFlow is
    already imported or the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves (then
    they chose what to see). Otherwise sets ``TF_CPP_MIN_LOG_LEVEL=2`` (no
    INFO/WARNING lines from TensorFlow's C++ later) and sends file descriptor
    2 to a temporary file during the import; every line there that is not a
    :data:`STARTUP_NOTICES` line is written to stderr afterwards, so real
    errors and Python warnings stay visible.
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import keras
        import tensorflow
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
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
            kept = [line for line in text.splitlines(keepends=True) if not STARTUP_NOTICES.search(line)]
            if kept:
                sys.stderr.write("".join(kept))


RETRACING = "triggered tf.function retracing"
"""The words of TensorFlow's warning that :func:`drop_retracing_warnings` drops."""


class _DropRetracing:
    """A :mod:`logging` filter: every record but TensorFlow's retracing warning passes."""

    def filter(self, record) -> bool:
        return RETRACING not in record.getMessage()


def drop_retracing_warnings() -> None:
    """Drop TensorFlow's "N out of the last N calls ... triggered tf.function retracing" warning.

    A notebook builds and fits many models in one process; each model's training function is a
    new ``tf.function`` of the same Python function, so TensorFlow warns from the fifth model on
    (once per model, with a paragraph of advice about loops), which no spec can avoid. The
    filter goes on the ``tensorflow`` logger (``tf.get_logger()``) by name, so TensorFlow need
    not be imported; installing it twice is harmless. Other TensorFlow warnings still pass.
    """
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _DropRetracing) for f in logger.filters):
        logger.addFilter(_DropRetracing())
