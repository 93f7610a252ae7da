"""Spec -> a standalone Python script in the notes' own Keras idiom.

The script (:func:`generate`) builds the model as ``keras.Sequential([...])``
(``style: list``) or ``keras.Sequential()`` then ``model.add(...)``
(``style: add``), loads Fashion-MNIST, reshapes it to the model's input
shape (``reshape(-1, 28 * 28)``, ``reshape(-1, 28, 28, 1)``), scales and
splits it with ``train_test_split``, makes the callbacks as the notes do
(``checkpoint_cb = keras.callbacks.ModelCheckpoint(...)``), then calls
``model.compile(...)``, ``model.fit(..., callbacks=[...])``
and ``model.evaluate(...)`` with exactly the spec's settings. It imports
keras, numpy and scikit-learn only, never fmnist_spec, so it can be handed to
someone who has never seen the spec.

Where the generated code differs from what the notes wrote, it says why in a
comment: ``input_shape=`` becomes a leading ``keras.Input(shape=...)``
(Keras 3 warns about ``input_shape`` on layers), and a model name that
TensorFlow rejects as a graph scope (``패션 MNIST 모델``) is replaced by its
graph-safe form (see :mod:`fmnist_spec.language.names`), since ``fit`` would fail on it.
A mixed ``dtype_policy`` becomes ``keras.config.set_dtype_policy(...)`` before the model
and ``dtype='float32'`` on its last layer; ``auto`` is resolved per machine only by
``fmnist-spec train``, so the script keeps float32 and says so in a comment.

The data loader of the script reads the four IDX gzip files from a directory
(the script's first argument, or ``$FASHION_MNIST_DIR``, or Debian's
``/usr/share/datasets/fashion-mnist``) and otherwise calls
``keras.datasets.fashion_mnist.load_data()``, the notes' call, which downloads.

No TensorFlow is imported to generate.

The script is inert: every value of the spec reaches it as a Python literal
(``repr``), the title in the docstring escaped as a string literal's text
(:func:`docstring_text`), and comments quote values through ``repr`` too, so a
name such as ``x\"\"\"; __import__("os").system("..."); \"\"\"`` or
``C:\\New models`` is text in the script, never code, and reads back exactly.
Argument keywords are checked to be identifiers.
"""

from __future__ import annotations

import keyword
import textwrap
from pathlib import Path

from .. import __version__
from ..language import registry
from ..language.names import graph_name
from ..language.schema import schema
from ..language.spec import Spec
from ..to_keras.precision import last_layer_dtype

STYLES = ("list", "add")

DATA_DIR_VARIABLE = "FASHION_MNIST_DIR"
"""Environment variable the generated script reads the data directory from."""

_LOADER = '''\
def load_fashion_mnist(data_dir=None):
    """((train_input, train_target), (test_input, test_target)) as uint8 arrays.

    Reads the four IDX gzip files from data_dir, $FASHION_MNIST_DIR or Debian's
    dataset-fashion-mnist directory; otherwise Keras downloads them.
    """
    candidates = [data_dir, os.environ.get("FASHION_MNIST_DIR"),
                  "/usr/share/datasets/fashion-mnist"]
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for directory in candidates:
        if directory and all(os.path.isfile(os.path.join(directory, n)) for n in names):
            arrays = [read_idx(os.path.join(directory, n)) for n in names]
            return (arrays[0], arrays[1]), (arrays[2], arrays[3])
        if directory == data_dir and data_dir:
            sys.exit(f"{data_dir}: expected the four Fashion-MNIST files {', '.join(names)}")
    return keras.datasets.fashion_mnist.load_data()


def read_idx(path):
    """One gzip-compressed IDX file of unsigned bytes as a numpy array."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
'''


MAX_LINE = 99
"""Longest line the generated script has (a call that would be longer gets one argument per line)."""


def _call(prefix: str, parts: list[str], suffix: str = "") -> list[str]:
    """``prefix(a, b)suffix`` on one line, or wrapped under the open parenthesis as the notes wrap
    ``model.compile(optimizer='adam', loss=...,\n              metrics=['accuracy'])``."""
    pad = " " * (len(prefix) + 1)
    lines = [f"{prefix}("]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        piece = part + (")" + suffix if last else ", ")
        if len(lines[-1]) + len(piece.rstrip()) > MAX_LINE and lines[-1].strip() not in ("", f"{prefix.strip()}("):
            lines[-1] = lines[-1].rstrip()
            lines.append(pad)
        lines[-1] += piece
    if not parts:
        lines[-1] += ")" + suffix
    return lines


def _literal(value) -> str:
    """A Python literal for a YAML value: 'text', 0.1, True, None, (28, 28).

    Raises:
        TypeError: ``value`` is not a str, number, bool, None or a list/tuple of them
            (a spec holds nothing else; anything else is a bug).
    """
    if isinstance(value, (list, tuple)):
        items = ", ".join(_literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise TypeError(f"no Python literal for a {type(value).__name__}. Received: {value!r}")
    return repr(value)


def _list_literal(values: list) -> str:
    """A Python list literal, ``[0.1, 0.01]``, of YAML scalars (as Keras's schedules take them)."""
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _keyword(key: str) -> str:
    """``key`` as a call's keyword: an identifier (the schema's keys are), never anything else.

    Raises:
        ValueError: ``key`` is not a Python identifier.
    """
    if not (isinstance(key, str) and key.isidentifier()) or keyword.iskeyword(key):
        raise ValueError(f"not a keyword argument name. Received: {key!r}")
    return key


def docstring_text(text: str) -> str:
    """``text`` escaped to stand inside a ``\"\"\"...\"\"\"`` docstring and read back exactly.

    Backslashes, quotes, line breaks and unprintable characters are written as escapes
    (as ``repr`` writes them); printable characters, Korean letters included, stay as they are.
    """
    body = repr(text)[1:-1]
    if repr(text)[0] == "'":  # repr left double quotes bare: escape them too
        body = body.replace('"', '\\"')
    return body


def comment(text: str, width: int = 80) -> list[str]:
    """``# ...`` lines of ``text`` wrapped at ``width``; text meant for a comment quotes any
    value through ``repr``, so it holds no line break, which is checked here.

    Raises:
        ValueError: ``text`` holds a character that would end the comment's line.
    """
    if any(ch in text for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"):
        raise ValueError(f"a comment's text holds a line break. Received: {text!r}")
    return [f"# {line}" for line in textwrap.wrap(text, width=width)]


def _layer_defaults(kind: str) -> dict:
    props = schema()["$defs"][kind]["properties"]
    return {key: prop["default"] for key, prop in props.items() if "default" in prop}


def layer_arguments(layer) -> list[str]:
    """``['100', "activation='sigmoid'", "name='hidden'"]``: the arguments of one layer's call.

    Arguments equal to Keras's defaults are left out, as the notes write them;
    the class's main argument (``units``, ``rate``) comes first, without keyword.
    """
    defaults = _layer_defaults(layer.type)
    parts = []
    first = registry.layer(layer.type).first  # written without its keyword, as the notes do
    if first is not None:
        parts.append(_literal(layer.arguments[first]))
    for key, value in layer.arguments.items():
        if key == first or (key in defaults and defaults[key] == value):
            continue
        parts.append(f"{_keyword(key)}={_literal(value)}")
    if layer.name is not None:
        parts.append(f"name={_literal(layer.name)}")
    return parts


def _model_name_lines(spec: Spec) -> tuple[list[str], str | None]:
    """(comment lines, the name literal or None) for ``keras.Sequential(name=...)``.

    None when the spec gives no name: Keras then picks ``sequential``, as ``build_model`` does.
    """
    if spec.data and "name" not in spec.data:
        return [], None
    safe = graph_name(spec.name)
    if safe == spec.name:
        return [], _literal(spec.name)
    text = (f"The spec names the model {spec.name!r}; TensorFlow rejects that as a graph "
            f"scope name when it trains, so the script uses the safe form {safe!r}.")
    return comment(text), _literal(safe)


def model_lines(spec: Spec, style: str) -> list[str]:
    """The lines that build ``model`` in the list or the ``.add()`` style."""
    comments, name = _model_name_lines(spec)
    if spec.input_layer:  # the second edition's own idiom
        calls = [("keras.layers.Input", [f"shape={_literal(spec.input_shape)}"])]
        lines = []
    else:
        calls = [("keras.Input", [f"shape={_literal(spec.input_shape)}"])]
        lines = ["# input_shape=... on the first layer is written as a leading keras.Input (Keras 3)."]
    calls += [(f"keras.layers.{_keyword(layer.type)}", layer_arguments(layer)) for layer in spec.layers]
    if last_layer_dtype(spec.dtype_policy):  # the softmax in float32 (Keras's mixed-precision guide)
        calls[-1][1].append(f"dtype={_literal(last_layer_dtype(spec.dtype_policy))}")
    lines += comments
    named = f", name={name}" if name else ""
    if style == "list":
        lines.append("model = keras.Sequential([")
        for cls, parts in calls:
            lines += _call(f"    {cls}", parts, suffix=",")
        lines.append(f"]{named})")
    else:
        lines.append(f"model = keras.Sequential({named[2:]})")
        for cls, parts in calls:
            lines += _call(f"model.add({cls}", parts, suffix=")")
    return lines


def policy_lines(spec: Spec) -> list[str]:
    """``keras.config.set_dtype_policy('mixed_bfloat16')`` for a mixed ``dtype_policy``; for
    ``auto`` and a Conv2D model a comment (train resolves it per machine); otherwise no lines."""
    if spec.dtype_policy == "auto" and spec.convolutional:
        text = ("dtype_policy is auto: fmnist-spec train computes this Conv2D model in mixed precision "
                "on a CPU with bfloat16 instructions (mixed_bfloat16) or an NVIDIA GPU of compute "
                "capability >= 7.0 (mixed_float16); this script keeps Keras's float32. Write dtype_policy "
                "in the spec to have it here.")
        return comment(text)
    if last_layer_dtype(spec.dtype_policy):
        return [f"keras.config.set_dtype_policy({_literal(spec.dtype_policy)})"]
    return []


def threading_lines(spec: Spec) -> list[str]:
    """``tf.config.threading`` calls for ``threading`` keys written as numbers; ``auto`` (the
    default) writes nothing: the script leaves the pools to TensorFlow, as the lessons do."""
    calls = [f"tf.config.threading.set_{key}({_literal(value)})"
             for key, value in (("intra_op_parallelism_threads", spec.intra_op_parallelism_threads),
                                ("inter_op_parallelism_threads", spec.inter_op_parallelism_threads))
             if value != "auto"]
    return calls + [""] if calls else []


def _optimizer_argument(spec: Spec) -> str | None:
    """``'adam'``, ``keras.optimizers.SGD(learning_rate=0.1)``, or None when the spec gives none."""
    given = spec.data.get("compile", {}).get("optimizer") if spec.data else spec.optimizer.given
    if given is None:
        return None
    if isinstance(given, str):
        return _literal(given)
    arguments = ", ".join(f"{_keyword(k)}={'lr_schedule' if isinstance(v, dict) else _literal(v)}"
                          for k, v in given.items() if k != "type")
    return f"keras.optimizers.{_keyword(given['type'])}({arguments})"


def schedule_lines(spec: Spec) -> list[str]:
    """``lr_schedule = keras.optimizers.schedules.ExponentialDecay(...)`` with the arguments as
    written, when the optimizer's learning_rate is a schedule; otherwise no lines."""
    given = spec.data.get("compile", {}).get("optimizer") if spec.data else spec.optimizer.given
    schedule = given.get("learning_rate") if isinstance(given, dict) else None
    if not isinstance(schedule, dict):
        return []
    parts = [f"{_keyword(k)}={_list_literal(v) if isinstance(v, list) else _literal(v)}"
             for k, v in schedule.items() if k != "type"]
    return _call(f"lr_schedule = keras.optimizers.schedules.{_keyword(schedule['type'])}", parts)


_CALLBACK_VARIABLES = {"ModelCheckpoint": "checkpoint_cb", "EarlyStopping": "early_stopping_cb",
                       "ReduceLROnPlateau": "reduce_lr_cb"}
"""The notes' variable names for callbacks (``checkpoint_cb = keras.callbacks.ModelCheckpoint(...)``)."""


def callback_variables(spec: Spec) -> list[str]:
    """``['checkpoint_cb', 'early_stopping_cb']``: one variable per callback, numbered when repeated."""
    names, seen = [], {}
    for callback in spec.callbacks:
        base = _CALLBACK_VARIABLES[callback.type]
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def callback_lines(spec: Spec) -> list[str]:
    """``checkpoint_cb = keras.callbacks.ModelCheckpoint('best-model.keras', save_best_only=True)``, ...

    Arguments equal to Keras's defaults are left out; the class's first argument (``filepath``)
    comes first without keyword.
    """
    lines = []
    for variable, callback in zip(callback_variables(spec), spec.callbacks):
        defaults = _layer_defaults(callback.type)
        first = registry.CALLBACKS[callback.type].first
        parts = [_literal(callback.arguments[first])] if first is not None else []
        parts += [f"{_keyword(k)}={_literal(v)}" for k, v in callback.arguments.items()
                  if k != first and not (k in defaults and defaults[k] == v)]
        lines += _call(f"{variable} = keras.callbacks.{_keyword(callback.type)}", parts)
    return lines


def _loss_argument(spec: Spec) -> str:
    if not spec.loss.from_logits:
        return _literal(spec.loss.name)
    return f"keras.losses.{registry.LOSSES[spec.loss.name].class_name}(from_logits=True)"


def compile_lines(spec: Spec) -> list[str]:
    """``model.compile(...)`` with the spec's optimizer (when given), loss and metrics."""
    parts = []
    optimizer = _optimizer_argument(spec)
    if optimizer is not None:
        parts.append(f"optimizer={optimizer}")
    parts.append(f"loss={_loss_argument(spec)}")
    if spec.metrics:
        parts.append(f"metrics=[{', '.join(_literal(m) for m in spec.metrics)}]")
    if spec.jit_compile != "auto":
        parts.append(f"jit_compile={_literal(spec.jit_compile)}")
    return _call("model.compile", parts)


def fit_lines(spec: Spec) -> list[str]:
    """``model.fit(...)`` with the spec's epochs, batch size and verbosity and the validation split."""
    parts = ["train_scaled", "train_target", f"epochs={_literal(spec.epochs)}",
             f"batch_size={_literal(spec.batch_size)}"]
    if spec.verbose != "auto":
        parts.append(f"verbose={_literal(spec.verbose)}")
    parts.append("validation_data=(val_scaled, val_target)")
    if spec.callbacks:
        parts.append(f"callbacks=[{', '.join(callback_variables(spec))}]")
    return _call("model.fit", parts)


def data_lines(spec: Spec) -> list[str]:
    """Loading, slicing, scaling, flattening and splitting, as the notes write them."""
    lines = ["(train_input, train_target), (test_input, test_target) = \\",
             "    load_fashion_mnist(sys.argv[1] if len(sys.argv) > 1 else None)"]
    if spec.train_samples is not None:
        samples = _literal(spec.train_samples)
        lines.append(f"train_input, train_target = train_input[:{samples}], train_target[:{samples}]")
    reshape = {(784,): ".reshape(-1, 28 * 28)", (28, 28, 1): ".reshape(-1, 28, 28, 1)"}.get(spec.input_shape, "")
    lines += [f"train_scaled = train_input{reshape} / {_literal(spec.scale)}",
              f"test_scaled = test_input{reshape} / {_literal(spec.scale)}"]
    lines += ["train_scaled, val_scaled, train_target, val_target = train_test_split(",
              f"    train_scaled, train_target, test_size={_literal(spec.test_size)}, "
              f"random_state={_literal(spec.random_state)}",
              ")"]
    return lines


def _setup_lines(spec: Spec) -> list[str]:
    """Thread pools and the seed (with op determinism), before the model is built."""
    lines = threading_lines(spec)
    if spec.seed is not None:
        lines += [f"keras.utils.set_random_seed({_literal(spec.seed)})",
                  "tf.config.experimental.enable_op_determinism()",
                  ""]
    return lines


RUN_WITH_DATA = [
    "Run:",
    "",
    "    python THIS_FILE [DATA_DIR]",
    "",
    f"DATA_DIR (or ${DATA_DIR_VARIABLE}) holds the four Fashion-MNIST IDX gzip files;",
    "without it, keras.datasets.fashion_mnist.load_data() downloads them.",
]
"""How a script that trains is run (the end of its docstring)."""


def script_header(title: str, what: str, source: str, style: str, needs: str, usage: list[str],
                  imports: list[str]) -> list[str]:
    """A generated script's first lines: its docstring (``title``: ``what`` of the spec file, the
    version and style, what it ``needs``, then the ``usage`` lines) and its ``imports``.

    ``title`` and the file name come from the user (a spec's ``name``, a file name): they are
    written through :func:`docstring_text`, so no quote in them ends the docstring."""
    return [f'"""{docstring_text(title)}: {what} of {docstring_text(Path(source).name)}.', "",
            f"Generated by fmnist-spec {__version__} (style: {style}).", f"Needs {needs}.", *usage, '"""', "",
            *imports]


def _build_only_script(spec: Spec, style: str, title: str, source: str) -> str:
    """The script of a build-only spec (no ``compile``): it builds the untrained model and prints
    its summary, as lesson 8-3 builds ``no_training_model``; no data, compile or fit."""
    header = script_header(title, "the Keras script", source, style, "keras (TensorFlow)", [
        "The spec has no compile section, so the script builds the untrained model and prints its",
        "summary; add compile to the spec to have the training code here too. Run:",
        "",
        "    python THIS_FILE",
    ], ["import keras"])
    if spec.seed is not None or threading_lines(spec):
        header.append("import tensorflow as tf")
    body = ["", ""] + _setup_lines(spec) + policy_lines(spec) + model_lines(spec, style) + ["model.summary()"]
    return "\n".join(header + body) + "\n"


def generate(spec: Spec, style: str | None = None, source: str | None = None) -> str:
    """The standalone training script of ``spec``, as Python source text.

    Args:
        spec: A checked spec.
        style: ``"list"`` or ``"add"``; None uses ``spec.style``.
        source: The spec file named in the header comment (default ``spec.file``).

    Returns:
        The script's text (UTF-8, ends in a newline). Running it with
        ``python SCRIPT [DATA_DIR]`` builds ``model``, trains it on the
        training split, validates on the held-out split and evaluates on the
        test set. For a build-only spec (no ``compile``) the script only builds
        ``model`` and prints its summary.

    Raises:
        ValueError: ``style`` is not ``"list"`` or ``"add"``.
    """
    style = style or spec.style
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}. Received: style={style!r}")
    source = source or spec.file
    title = spec.name if not spec.data or "name" in spec.data else Path(source).stem
    if spec.build_only:
        return _build_only_script(spec, style, title, source)
    header = script_header(title, "the Keras script", source, style, "keras (TensorFlow), numpy and scikit-learn",
                           RUN_WITH_DATA, ["import gzip", "import os", "import sys", "", "import keras",
                                           "import numpy as np", "from sklearn.model_selection import train_test_split"])
    if spec.seed is not None or threading_lines(spec):
        header.insert(header.index("import numpy as np") + 1, "import tensorflow as tf")
    header += ["", ""]
    body = [_LOADER, ""] + _setup_lines(spec)
    body += policy_lines(spec) + model_lines(spec, style)
    body += ["model.summary()", ""]
    body += data_lines(spec)
    body += [""] + schedule_lines(spec) + compile_lines(spec)
    if spec.callbacks:
        body += callback_lines(spec)
    body += fit_lines(spec) + ["model.evaluate(test_scaled, test_target)"]
    return "\n".join(header + body) + "\n"
