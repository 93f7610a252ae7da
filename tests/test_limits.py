"""Hostile sizes: each is a clear SpecError at a position, quickly and in bounded memory.

The bound checked is generous (5 s, 100 MB) so the tests do not flake on a
busy machine; measured figures on the development machine are in the README.
"""

import time
import tracemalloc

import pytest

from fmnist_spec import SpecError, parse_spec, validate
from fmnist_spec.source.yaml_source import MAX_BYTES

SECONDS = 5.0
PEAK_BYTES = 100 * 2**20

BASE = "spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
COMPILE = "compile: {loss: sparse_categorical_crossentropy}\n"


def _refused(text):
    """(SpecError, seconds, peak traced bytes) of parse_spec(text)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SpecError) as err:
            parse_spec(text, "hostile.yaml")
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)
    return err.value


def _billion_laughs(levels=9):
    rows = ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        rows.append(f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(rows) + "\n"


def test_billion_laughs_is_refused_before_expanding():
    err = _refused(_billion_laughs())
    assert "expands to 111,111 nodes" in err.message and (err.line, err.column) == (5, 7)


def test_deep_nesting_is_refused_at_the_level_past_the_limit():
    err = _refused("a: " + "[" * 50_000 + "]" * 50_000)
    assert "nesting deeper than 20 levels" in err.message
    assert (err.line, err.column) == (1, 4 + 20)  # the 21st '[' (the first is at column 4): 22 levels


def test_thousands_of_layers_are_refused_at_the_first_one_past_the_limit():
    err = _refused(BASE + "  - {units: 10, activation: relu}\n" * 5000 + COMPILE)
    assert err.path == "layers" and "more than 100 layers" in err.message and "docs/limits.md" in err.hint
    assert (err.line, err.column) == (103, 5)  # layer 101; layer 1 is on line 3


def test_layers_given_with_set_are_held_to_the_same_limit(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(BASE + "  - {units: 10, activation: softmax}\n" + COMPILE)
    layers = ("[{type: Flatten, input_shape: [28, 28]}" + ", {units: 10, activation: relu}" * 99
              + ", {units: 10, activation: softmax}]")
    [problem] = [p for p in validate(spec, [f"layers={layers}"]) if p.severity == "error"]
    assert problem.path == "layers" and "101 layers is more than the limit of 100" in problem.message


def test_a_hundred_layers_are_accepted():
    text = (
        BASE
        + "  - {units: 10, activation: relu}\n" * 98
        + "  - {units: 10, activation: softmax}\n"
        + COMPILE
    )
    start = time.perf_counter()
    assert len(parse_spec(text).layers) == 100
    assert time.perf_counter() - start < SECONDS


def test_a_billion_units_are_refused_with_the_parameter_count_before_building():
    err = _refused(
        BASE + "  - {units: 1000000000, activation: relu}\n  - {units: 10, activation: softmax}\n" + COMPILE
    )
    assert err.path == "layers[1].units" and (err.line, err.column) == (4, 13)
    assert "795,000,000,010 parameters" in err.message and "GiB" in err.message


def test_long_lists_anywhere_are_refused():
    err = _refused("a: [" + "1, " * 50_000 + "1]\n")
    assert "more than 1,000 items" in err.message and err.line == 1


def test_oversized_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: " + "x" * (20 * MAX_BYTES) + "\n")
    start = time.perf_counter()
    problems = validate(path)
    assert time.perf_counter() - start < SECONDS
    assert [p.message for p in problems] == [f"the file is larger than {MAX_BYTES:,} bytes"]


def test_long_values_are_shortened_in_messages():
    err = _refused(
        "name: " + "x" * 100_000 + "\n" + BASE + "  - {units: 10, activation: softmax}\n" + COMPILE
    )
    assert err.path == "name" and "too long" in err.message and len(err.message) < 200


def test_validate_of_hostile_input_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; from fmnist_spec import parse_spec, SpecError\n"
        "try:\n    parse_spec(" + repr(BASE + "  - {units: 1000000000}\n" + COMPILE) + ")\n"
        "except SpecError as e:\n    print('refused')\n"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["refused", "False"]
