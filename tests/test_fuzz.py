"""Property tests: hostile or mangled input never crashes validation.

The only outcomes allowed are success or problems (a SpecError from the
raising API) that carry a 1-based line and column; never another exception.
Examples are bounded so the file runs in seconds in CI.
"""

import copy
import os
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SPECS
from fmnist_spec import SpecError, parse_spec, validate
from fmnist_spec.language.validation import check_source
from fmnist_spec.source.compose import compose
from fmnist_spec.source.yaml_source import parse_text

EXAMPLES = int(os.environ.get("FMNIST_FUZZ_EXAMPLES", "200"))
"""Examples per property; set FMNIST_FUZZ_EXAMPLES=5000 for a longer, randomised run by hand."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=EXAMPLES == 200,
)
TEXTS = [p.read_text("utf-8") for p in SPECS]
DATA = [{k: v for k, v in compose(p).data.items() if k != "extends"} for p in SPECS]
"""The shipped specs merged over their bases (extends resolved), as plain data."""


def _assert_located(problems, text=None):
    for p in problems:
        assert isinstance(p.line, int) and p.line >= 1, p
        assert isinstance(p.column, int) and p.column >= 1, p
        assert p.severity in ("error", "warning") and p.message
        if text is not None:
            assert p.line <= text.count("\n") + 2, p


def _check_text(text):
    """parse_text + checks: success, or problems with positions."""
    try:
        source = parse_text(text, "fuzz.yaml")
    except SpecError as err:
        _assert_located(err.problems, text)
        return
    spec, problems = check_source(source)
    _assert_located(problems, text)
    if spec is not None:
        spec.resolved()


def _validate_bytes(raw):
    fd, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        problems = validate(name)
    finally:
        os.unlink(name)
    _assert_located(problems)
    return problems


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_give_located_problems_or_success(raw):
    _validate_bytes(raw)


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text_gives_located_problems_or_success(text):
    _check_text(text)


@st.composite
def mutated_spec_text(draw):
    """A shipped spec with a few random edits: delete, insert, replace or duplicate a slice."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        start = draw(st.integers(0, n))
        end = draw(st.integers(start, min(n, start + 20)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(
            st.text(
                alphabet=st.sampled_from(list("[]{}:,-#&*!|>'\"\t\n 0123456789.eE_abcxyzTrue")), max_size=8
            )
        )
        if op == "delete":
            text = text[:start] + text[end:]
        elif op == "insert":
            text = text[:start] + piece + text[start:]
        elif op == "replace":
            text = text[:start] + piece + text[end:]
        else:
            text = text[:end] + text[start:end] + text[end:]
    return text


@FUZZ
@given(mutated_spec_text())
def test_mutated_shipped_specs_give_located_problems_or_success(text):
    _check_text(text)


@FUZZ
@given(st.binary(min_size=1, max_size=8), st.integers(0, 2000), st.sampled_from(TEXTS))
def test_shipped_specs_with_random_bytes_inside(junk, at, text):
    raw = text.encode("utf-8")
    at = min(at, len(raw))
    _validate_bytes(raw[:at] + junk + raw[at:])


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "softmax",
            "relu",
            "Dense",
            "Dropout",
            "Flatten",
            "SGD",
            "adam",
            "sparse_categorical_crossentropy",
            "categorical_crossentropy",
            "Conv2D",
            "MaxPooling2D",
            "AveragePooling2D",
            "BatchNormalization",
            "Reshape",
            "Input",
            "same",
            "EarlyStopping",
            "ModelCheckpoint",
            "ReduceLROnPlateau",
            "ExponentialDecay",
            "PiecewiseConstantDecay",
            "val_loss",
            "val_accuracy",
            "max",
            "../best.keras",
            "best.weights.h5",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "units",
                    "rate",
                    "activation",
                    "input_shape",
                    "learning_rate",
                    "name",
                    "from_logits",
                    "momentum",
                    "test_size",
                    "filters",
                    "kernel_size",
                    "pool_size",
                    "strides",
                    "shape",
                    "target_shape",
                    "monitor",
                    "mode",
                    "filepath",
                    "patience",
                    "restore_best_weights",
                    "save_weights_only",
                    "callbacks",
                    "boundaries",
                    "values",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated_spec_data(draw):
    """A shipped spec with one value anywhere in it replaced by a random value, as YAML."""
    data = copy.deepcopy(draw(st.sampled_from(DATA)))
    path = draw(st.sampled_from([p for p in _paths(data) if p]))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = draw(VALUES)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(mutated_spec_data())
def test_shipped_specs_with_a_random_value_give_located_problems_or_success(text):
    _check_text(text)
    try:
        spec = parse_spec(text)
    except SpecError as err:
        assert err.line is not None
        return
    from fmnist_spec.language.shapes import infer

    rows = infer(spec.data["layers"], spec.input_shape)
    assert rows[-1].output_shape == (None, 10)


@FUZZ
@given(mutated_spec_data())
def test_a_checked_spec_round_trips_through_its_resolved_form(text):
    """Whatever a mutated spec (new layers, Input, callbacks, schedules included) resolves to
    is itself a valid spec that checks to the same model, callbacks and settings (``optimizer.given``
    keeps what each text wrote, so it is compared through ``resolved``)."""
    try:
        spec = parse_spec(text)
    except SpecError:
        return
    again = parse_spec(yaml.safe_dump(spec.resolved(), allow_unicode=True, sort_keys=False))
    assert again.resolved() == spec.resolved()
    assert (again.input_shape, again.input_layer, again.layers, again.callbacks, again.optimizer.arguments) == \
        (spec.input_shape, spec.input_layer, spec.layers, spec.callbacks, spec.optimizer.arguments)
