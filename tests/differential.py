"""The differential test's two sides: random layer stacks, the tool's verdict, plain Keras's verdict.

``random_layers(seed)`` draws a layer list over every layer kind and option the
schema allows (``Input``, ``Reshape``, ``Conv2D``, ``MaxPooling2D``,
``AveragePooling2D``, ``BatchNormalization``, ``Dropout``, ``Flatten``,
``Dense``; padding, strides, pair or int windows, ``center``/``scale``,
``use_bias``, every activation and initializer, given names that may clash),
valid and faulty, from a seeded numpy RNG: seed ``s`` always gives the same spec.

``keras_facts(layers)`` builds it with plain ``keras.Sequential`` and nothing
of fmnist-spec: the spec's keys are Keras's argument names, so each layer is
``getattr(keras.layers, type)(**arguments)``. It records where Keras refuses
(the layer whose construction or ``add`` raises, as ``.add()`` one at a time
shows it), each layer's name, output shape and parameters, and whether a batch
of two images runs through the built model with the output shape Keras
inferred.

``disagreements(seed)`` checks the spec with the tool's static checker
(in-process, :func:`fmnist_spec.language.validation.check_source` and
:func:`fmnist_spec.language.shapes.infer`) and compares. Where the tool refuses
on purpose what Keras builds, :func:`expected_error_layers` states the policy
(each one is in docs/checks.md, "Where fmnist-spec refuses what Keras builds").

``tests/test_differential.py`` runs a few hundred seeds;
``scripts/differential.py --count 5000`` runs thousands by hand.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ["celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
               "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6",
               "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus",
               "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold", None]
"""Every ``activation`` the schema allows (null: none)."""
INITIALIZERS = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                "random_uniform", "random_normal", "truncated_normal", "variance_scaling", "orthogonal",
                "zeros", "ones"]
NAMES = ["hidden", "out", "dense", "dense_1", "dense_2", "conv2d", "conv2d_1", "flatten", "dropout",
         "batch_normalization", "max_pooling2d", "average_pooling2d", "reshape", "input_layer",
         "sequential", "block.1", "x-2"]
"""Given names, drawn often enough to clash with each other and with Keras's automatic names."""
IMAGE_SHAPES = [[784], [28, 28], [28, 28, 1]]
OTHER_SHAPES = [[28, 28, 3], [100], [14, 14, 4], [1, 784], [56, 14]]
"""Input shapes Keras builds but the 28x28 grayscale images cannot be given in (the tool refuses them)."""
KINDS = ["Dense", "Flatten", "Dropout", "Conv2D", "MaxPooling2D", "AveragePooling2D", "BatchNormalization",
         "Reshape"]
COMPILE = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def _window(rng, small: int, large: tuple) -> int | list:
    """A kernel/pool/stride size: mostly 1..small, int or [h, w]; now and then a large one."""
    if rng.random() < 0.06:
        return int(rng.integers(*large))
    if rng.random() < 0.3:
        return [int(rng.integers(1, small + 1)), int(rng.integers(1, small + 1))]
    return int(rng.integers(1, small + 1))


def _layer(rng, kind: str) -> dict:
    """One random layer of ``kind`` with random options (the schema's keys and ranges)."""
    layer: dict = {"type": kind} if kind != "Dense" or rng.random() < 0.5 else {}
    if kind == "Dense":
        layer["units"] = int(rng.integers(1, 65))
    elif kind == "Conv2D":
        layer["filters"] = int(rng.integers(1, 17))
        layer["kernel_size"] = _window(rng, 5, (20, 40))
        if rng.random() < 0.5:
            layer["strides"] = _window(rng, 3, (4, 30))
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        if kind == "AveragePooling2D" or rng.random() < 0.7:
            layer["pool_size"] = _window(rng, 4, (10, 40))
        if rng.random() < 0.4:
            layer["strides"] = None if rng.random() < 0.3 else _window(rng, 3, (4, 30))
    elif kind == "Dropout":
        layer["rate"] = round(float(rng.random() * 0.9), 2)
    elif kind == "BatchNormalization":
        for key in ("center", "scale"):
            if rng.random() < 0.5:
                layer[key] = bool(rng.random() < 0.5)
        if rng.random() < 0.3:
            layer["momentum"] = round(float(rng.uniform(0.5, 0.999)), 3)
        if rng.random() < 0.3:
            layer["epsilon"] = float(rng.choice([1e-5, 1e-3, 0.1]))
    elif kind == "Reshape":
        choices = [[-1], [-1, 1], [28, -1], [-1, 28], [28, 28, 1], [14, 14, -1], [7, -1, 4], [784],
                   [2, -1], [-1, -1], [10, 10], [392, 2]]
        layer["target_shape"] = choices[int(rng.integers(len(choices)))]
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D") and rng.random() < 0.5:
        layer["padding"] = str(rng.choice(["valid", "same"]))
    if kind in ("Dense", "Conv2D"):
        if rng.random() < 0.7:
            layer["activation"] = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
        if rng.random() < 0.3:
            layer["use_bias"] = bool(rng.random() < 0.5)
        if rng.random() < 0.2:
            layer["kernel_initializer"] = INITIALIZERS[int(rng.integers(len(INITIALIZERS)))]
    if rng.random() < 0.2:
        layer["name"] = NAMES[int(rng.integers(len(NAMES)))]
    return layer


def random_layers(seed: int) -> list[dict]:
    """A random ``layers`` list, valid or faulty; the same ``seed`` gives the same list.

    Most stacks end the way a classifier should (``Flatten`` where needed, then
    ``Dense(10, softmax)``), so that many are valid; the rest end anyhow.
    """
    rng = np.random.default_rng(seed)
    shape = IMAGE_SHAPES[int(rng.integers(3))] if rng.random() < 0.92 else \
        OTHER_SHAPES[int(rng.integers(len(OTHER_SHAPES)))]
    spatial = len(shape) == 3 or rng.random() < 0.3
    body = []
    for _ in range(int(rng.integers(0, 7))):
        weights = np.array([3, 1, 1.5, 4, 2, 2, 2, 1]) if spatial else np.array([4, 1, 2, .5, .5, .5, 2, 1.5])
        body.append(_layer(rng, KINDS[int(rng.choice(len(KINDS), p=weights / weights.sum()))]))
    if rng.random() < 0.8:
        if rng.random() < 0.85:
            body.append({"type": "Flatten"})
        last: dict = {"units": 10, "activation": "softmax"}
        if rng.random() < 0.12:
            last = _layer(rng, "Dense")
        elif rng.random() < 0.1:
            last["name"] = NAMES[int(rng.integers(len(NAMES)))]
        body.append(last)
    elif not body or rng.random() < 0.5:
        body.append(_layer(rng, KINDS[int(rng.integers(len(KINDS)))]))
    if rng.random() < 0.4:
        layers = [{"type": "Input", "shape": shape}] + body
    else:
        layers = [dict(body[0], input_shape=shape)] + body[1:]
    if len(layers) > 2 and rng.random() < 0.03:  # input_shape on a later layer: Keras ignores it
        i = int(rng.integers(1, len(layers)))
        if layers[i].get("type") != "Input":
            layers[i] = dict(layers[i], input_shape=IMAGE_SHAPES[int(rng.integers(3))])
    return layers


def spec_text(layers: list[dict]) -> str:
    """The spec file: one layer per line (JSON is YAML 1.2 flow style)."""
    lines = ["spec_version: 1", "layers:"] + [f"  - {json.dumps(layer)}" for layer in layers]
    return "\n".join(lines + [f"compile: {json.dumps(COMPILE)}", ""])


# --- plain Keras -------------------------------------------------------------------------------


@dataclass
class KerasFacts:
    """What plain Keras makes of a layer list.

    Attributes:
        input_shape: The declared sample shape (tuple).
        names: Each layer's Keras name, spec order, None for an ``Input`` element (the layers
            Keras constructed; shorter when a constructor raised).
        name_clash: Spec index of the first layer ``add`` refused for its name, or None.
        shape_failure: Spec index of the first layer Keras cannot build on its input (its
            constructor or ``add`` raised, names aside), or None.
        rows: ``(spec index, output shape, params, trainable, non_trainable)`` per layer when built.
        runs: A batch of two runs through the built model and gives the inferred output shape.
        error: Keras's message at ``shape_failure``.
        unnamed_broken: An unnamed layer could not be constructed, so its Keras name is unknown.
    """

    input_shape: tuple
    names: list = field(default_factory=list)
    name_clash: int | None = None
    shape_failure: int | None = None
    rows: list = field(default_factory=list)
    runs: bool | None = None
    error: str = ""
    unnamed_broken: bool = False


def _declared_shape(layers: list[dict]) -> tuple:
    first = layers[0]
    return tuple(first["shape"] if first.get("type") == "Input" else first["input_shape"])


def _construct(keras, layers: list[dict], names: bool) -> tuple[dict, dict]:
    """({spec index: Keras layer}, {spec index: message of a constructor that raised}).

    ``keras.Input`` is made first (index -1), then each layer in order, as fmnist-spec's builder
    does. ``names=False`` replaces every name by a unique one, to see shapes apart from names.
    """
    made = {-1: keras.Input(shape=_declared_shape(layers))}
    broken = {}
    for i, layer in enumerate(layers):
        kind = layer.get("type", "Dense")
        if kind == "Input":
            continue
        arguments = {k: v for k, v in layer.items() if k != "type" and not (i == 0 and k == "input_shape")}
        if not names:
            arguments["name"] = f"unique_{i}"
        for key in ("kernel_size", "strides", "pool_size", "target_shape", "input_shape"):
            if isinstance(arguments.get(key), list):
                arguments[key] = tuple(arguments[key])
        try:
            made[i] = getattr(keras.layers, kind)(**arguments)
        except ValueError as exc:
            broken[i] = str(exc)
    return made, broken


def _add_all(keras, made: dict, broken: dict) -> tuple:
    """``keras.Sequential().add`` each layer in order: (model, spec index of the first layer that
    could not be made or added, Keras's message)."""
    if not broken:
        try:  # one build (add-style rebuilds the model after every layer); located below if it fails
            return keras.Sequential([made[i] for i in sorted(made)]), None, ""
        except ValueError:
            pass
    model = keras.Sequential()
    for i in sorted(set(made) | set(broken)):
        if i in broken:
            return model, i, broken[i]
        try:
            model.add(made[i])
        except ValueError as exc:
            return model, i, str(exc)
    return model, None, ""


def keras_facts(layers: list[dict]) -> KerasFacts:
    """Build ``layers`` with plain ``keras.Sequential`` in a fresh session (see the module docstring)."""
    import keras

    facts = KerasFacts(_declared_shape(layers))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # input_shape on a later layer: Keras warns and ignores it
        keras.backend.clear_session(free_memory=False)  # names count from dense, conv2d, ... again
        made, broken = _construct(keras, layers, names=True)
        facts.names = [made[i].name if i in made else layer.get("name") if i in broken else None
                       for i, layer in enumerate(layers)]
        facts.unnamed_broken = any(layers[i].get("name") is None for i in broken)
        model, failed, message = _add_all(keras, made, broken)
        if failed is not None and "unique names" in message:
            facts.name_clash = failed
            keras.backend.clear_session(free_memory=False)
            made, broken = _construct(keras, layers, names=False)
            model, failed, message = _add_all(keras, made, broken)
        if failed is not None:
            facts.shape_failure, facts.error = failed, message
            return facts
        for i in sorted(made)[1:]:
            layer = made[i]
            trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
            non_trainable = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
            facts.rows.append((i, tuple(layer.output.shape), layer.count_params(), trainable, non_trainable))
        try:
            out = model(np.zeros((2,) + facts.input_shape, "float32"), training=False)
            facts.runs = tuple(out.shape)[1:] == facts.rows[-1][1][1:]
        except Exception:  # noqa: BLE001 - a model Keras built that cannot run a batch
            facts.runs = False
    return facts


# --- the tool's policies ------------------------------------------------------------------------


IMAGE_SAMPLE_SHAPES = {(784,), (28, 28), (28, 28, 1)}


def expected_error_layers(layers: list[dict], facts: KerasFacts) -> dict[int, set]:
    """Layer index -> why the tool must report an error there (a set of reasons), from Keras's facts and the policies.

    Keras's own refusals: a layer Keras cannot build on its input (``shape``), and a name
    that clashes (``name``; the tool shows it at the given name, Keras at the layer added
    second). The tool's deliberate refusals of models Keras builds (docs/checks.md):

    - ``input``: an input shape the 28x28 grayscale images cannot be given in (then no
      shape-chain or output checks: the chain starts from a shape the data cannot have);
    - ``input-once``: ``input_shape`` on any layer but the first (Keras ignores it);
    - ``activation``: ``glu`` halves the last axis at run time, ``threshold`` needs arguments
      (Keras builds the model, which cannot run a batch);
    - ``output``: the model does not end in ``Dense`` with output (None, 10) (shown at the
      first ``Dense`` that acts on a feature map when the output has more axes);
    - ``output-activation``: the last ``Dense``'s activation is not softmax (or sigmoid,
      a warning) while the loss has ``from_logits: false``.
    """
    expected: dict[int, set] = {}
    n = len(layers) - 1
    given = [layer.get("name") for layer in layers]
    for i, name in enumerate(facts.names):  # Keras's names; a clash is shown at the given name
        if name is None:
            continue
        if name == "input_layer" and given[i] is not None:
            expected.setdefault(i, set()).add("name")
        for j in range(i + 1, len(facts.names)):
            if facts.names[j] == name:
                expected.setdefault(j if given[j] is not None else i, set()).add("name")
    for i, layer in enumerate(layers):
        if i >= 1 and "input_shape" in layer:
            expected.setdefault(i, set()).add("input-once")
        if layer.get("activation") in ("glu", "threshold"):
            expected.setdefault(i, set()).add("activation")
    last = layers[-1]
    if last.get("type", "Dense") == "Dense" and last.get("activation") not in ("softmax", "sigmoid"):
        expected.setdefault(n, set()).add("output-activation")
    if facts.input_shape not in IMAGE_SAMPLE_SHAPES:
        expected.setdefault(0, set()).add("input")
        return expected
    if facts.shape_failure is not None:
        expected.setdefault(facts.shape_failure, set()).add("shape")
        return expected
    out = facts.rows[-1][1]
    if len(out) > 2:
        inputs = [(None,) + facts.input_shape] + [r[1] for r in facts.rows[:-1]]
        flat_feeding = [r[0] for r, given_shape in zip(facts.rows, inputs)
                        if layers[r[0]].get("type", "Dense") == "Dense" and len(given_shape) > 2]
        expected.setdefault(flat_feeding[0] if flat_feeding else n, set()).add("output")
    elif last.get("type", "Dense") != "Dense" or out[-1] != 10:
        expected.setdefault(n, set()).add("output")
    return expected


# --- the comparison -----------------------------------------------------------------------------


_LAYER = re.compile(r"^layers\[(\d+)\]")


@dataclass
class Outcome:
    """One spec compared: the spec, Keras's facts, the tool's error layers, the disagreements."""

    seed: int
    text: str
    facts: KerasFacts
    tool_errors: dict
    expected: dict
    disagreements: list


def compare(seed: int) -> Outcome:
    """Check the spec of ``seed`` with the tool and with Keras; list every disagreement."""
    from fmnist_spec.errors import ERROR
    from fmnist_spec.language.shapes import ShapeChainError, infer
    from fmnist_spec.language.validation import check_source
    from fmnist_spec.source.yaml_source import parse_text

    layers = random_layers(seed)
    text = spec_text(layers)
    facts = keras_facts(layers)
    found = [p for p in check_source(parse_text(text, f"seed-{seed}.yaml"))[1] if p.severity == ERROR]
    wrong = []
    tool: dict[int, list] = {}
    for problem in found:
        match = _LAYER.match(problem.path)
        if not match:
            wrong.append(f"an error outside layers: {problem.render()}")
            continue
        tool.setdefault(int(match.group(1)), []).append(problem)
    expected = expected_error_layers(layers, facts)
    if facts.unnamed_broken:  # Keras never named the layer it could not make: a clash with it is unknown
        tool = {i: ps for i, ps in tool.items()
                if i in expected or not all(p.path == f"layers[{i}].name" for p in ps)}
    if set(tool) != set(expected):
        wrong.append(f"error layers: tool {sorted(tool)}, Keras and the policies {expected}; tool says: "
                     + " | ".join(p.render() for ps in tool.values() for p in ps)
                     + (f"; Keras says: {facts.error[:300]}" if facts.error else ""))
    for i, why in expected.items():
        if "name" in why and i in tool and not any(p.path == f"layers[{i}].name" for p in tool[i]):
            wrong.append(f"the name clash is not shown at layers[{i}].name")
        if any(p.line is None or p.column is None for p in tool.get(i, [])):
            wrong.append(f"an error at layers[{i}] without line and column")
    reasons = set().union(*expected.values())
    if "activation" in reasons and facts.runs is not False and facts.rows:
        wrong.append("a model with glu or threshold ran a batch as Keras inferred: the policy is wrong")
    if facts.rows and "activation" not in reasons and facts.runs is not True:
        wrong.append("Keras built the model but a batch does not run through it with the inferred shape")
    wrong += _compare_rows(layers, facts, infer, ShapeChainError)
    return Outcome(seed, text, facts, {i: [p.path for p in ps] for i, ps in tool.items()}, expected, wrong)


def _compare_rows(layers, facts: KerasFacts, infer, ShapeChainError) -> list[str]:
    """Shapes, parameters and names of the tool's inference against Keras's model."""
    try:
        rows = infer(layers, facts.input_shape)
    except ShapeChainError as exc:
        if exc.index != facts.shape_failure:
            keras_says = ("builds it" if facts.shape_failure is None else
                          f"fails at layers[{facts.shape_failure}]")
            return [f"the tool's shape chain breaks at layers[{exc.index}] ({exc.message}); Keras {keras_says}"]
        return []
    if facts.shape_failure is not None:
        return [f"Keras fails at layers[{facts.shape_failure}] ({facts.error[:200]}); the tool's chain goes through"]
    wrong = []
    mine = [(r.index, r.output_shape, r.params, r.trainable, r.non_trainable) for r in rows]
    if mine != facts.rows:
        wrong.append(f"rows (index, output shape, params, trainable, non-trainable): tool {mine}, Keras {facts.rows}")
    names = [r.name for r in rows]
    keras_names = [name for name in facts.names if name is not None]
    if facts.name_clash is None and names != keras_names:
        wrong.append(f"names: tool {names}, Keras {keras_names}")
    return wrong
