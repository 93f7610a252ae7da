"""The search section as data: parameters, grid, the plain spec of a point, values as written."""

import pytest
import yaml

from fmnist_spec import SpecError, load_spec, parse_spec
from fmnist_spec.language.search_space import (
    CATEGORICAL,
    FLOAT,
    INT,
    Parameter,
    format_value,
    point_data,
    point_spec,
)

BASE = """spec_version: 1
seed: 42
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {type: Dense, units: 100, activation: relu}
  - {type: Dropout, rate: 0.3}
  - {type: Dense, units: 10, activation: softmax}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""

SEARCH = BASE + """search:
  sampler: grid
  space:
    compile.optimizer: {choices: [sgd, adagrad, rmsprop, adam]}
    layers[2].rate: {low: 0.1, high: 0.5, step: 0.1}
    layers[1].units: {low: 50, high: 200, step: 50}
"""


def test_the_section_is_parsed_into_spec_search_with_its_defaults():
    space = parse_spec(SEARCH, "s.yaml").search
    assert (space.objective, space.direction, space.sampler, space.pruner) == ("val_accuracy", "maximize", "grid",
                                                                               "median")
    assert [(p.path, p.kind) for p in space.parameters] == [
        ("compile.optimizer", CATEGORICAL), ("layers[2].rate", FLOAT), ("layers[1].units", INT)]
    assert space.n_trials == 4 * 5 * 4 == space.grid_size()  # a grid's default budget is its size
    assert space.parameters[0].location == ("s.yaml", 15, 5)


def test_int_or_float_follows_the_keys_type_in_the_schema():
    space = parse_spec(BASE + "search:\n  space:\n    layers[1].units: {low: 50, high: 200}\n"
                       "    layers[2].rate: {low: 0, high: 0.9}\n").search
    units, rate = space.parameters
    assert (units.kind, type(units.low)) == (INT, int) and (rate.kind, type(rate.high)) == (FLOAT, float)
    assert space.sampler == "tpe" and space.n_trials == 20 and space.grid_size() is None and space.grid() is None


def test_the_grid_lists_every_point_with_exact_decimal_steps():
    grid = parse_spec(SEARCH).search.grid()
    assert len(grid) == 80 and grid[0] == {"compile.optimizer": "sgd", "layers[2].rate": 0.1,
                                           "layers[1].units": 50}
    assert sorted({p["layers[2].rate"] for p in grid}) == [0.1, 0.2, 0.3, 0.4, 0.5]  # not 0.30000000000000004
    assert sorted({p["layers[1].units"] for p in grid}) == [50, 100, 150, 200]


def test_a_point_is_a_checked_plain_spec_without_the_search_section():
    spec = parse_spec(SEARCH)
    point = point_spec(spec, {"compile.optimizer": "sgd", "layers[2].rate": 0.30000000000000004,
                              "layers[1].units": 150})
    assert point.search is None and "search" not in point.data
    assert point.optimizer.type == "SGD" and point.layers[2].arguments["rate"] == 0.3
    assert point.layers[1].arguments["units"] == 150
    assert parse_spec(SEARCH).layers[1].arguments["units"] == 100  # the base is untouched


def test_a_learning_rate_on_an_optimizer_given_by_name_opens_it_as_set_does():
    spec = parse_spec(BASE + "search:\n  space:\n    compile.optimizer: {choices: [sgd, adam]}\n"
                      "    compile.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n")
    data = point_data(spec, {"compile.optimizer.learning_rate": 0.001, "compile.optimizer": "sgd"})
    assert data["compile"]["optimizer"] == {"type": "SGD", "learning_rate": 0.001}  # the choice first
    assert "search" not in data and "search" in spec.data


def test_point_data_refuses_a_path_or_value_outside_the_space():
    spec = parse_spec(SEARCH)
    with pytest.raises(ValueError, match="not a parameter"):
        point_data(spec, {"fit.epochs": 3})
    with pytest.raises(ValueError, match="not one of the choices"):
        point_data(spec, {"compile.optimizer": "adamw"})
    with pytest.raises(ValueError, match="not in the range 0.1..0.5"):
        point_data(spec, {"layers[2].rate": 0.7})


def test_a_failing_point_is_reported_at_its_search_parameter(monkeypatch):
    from fmnist_spec.language import search_checks

    monkeypatch.setattr(search_checks, "points_to_check", lambda space, limit=None: [])  # a point no static check tried
    spec = parse_spec(BASE + "search:\n  space:\n    layers[1].units: {low: 1, high: 3000000}\n", "s.yaml")
    with pytest.raises(SpecError) as info:
        point_spec(spec, {"layers[1].units": 3_000_000})
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("s.yaml", 14, 5)
    assert "parameters" in problem.message  # the model-size check, named
    assert problem.message.startswith("layers[1].units=3000000 fails the spec's checks")


@pytest.mark.parametrize("parameter, value, text", [
    (Parameter("r", FLOAT, low=0.1, high=0.5, step=0.1), 0.30000000000000004, "0.3"),
    (Parameter("lr", FLOAT, low=1e-4, high=1e-2, log=True), 0.001, "0.001"),
    (Parameter("lr", FLOAT, low=1e-6, high=1e-2, log=True), 1.234567e-5, "1.235e-5"),
    (Parameter("u", INT, low=50, high=200, step=50), 150, "150"),
    (Parameter("o", CATEGORICAL, choices=("adam",)), "adam", "adam"),
    (Parameter("o", CATEGORICAL, choices=({"type": "SGD", "momentum": 0.9},)), {"type": "SGD", "momentum": 0.9},
     "{type: SGD, momentum: 0.9}"),
])
def test_values_are_shown_rounded_as_written(parameter, value, text):
    assert format_value(parameter, value) == text


def test_a_mapping_choice_given_by_its_text_is_the_choice():
    spec = parse_spec(BASE + "search:\n  space:\n    compile.optimizer: {choices: [adam, "
                      "{type: SGD, momentum: 0.9}]}\n")
    data = point_data(spec, {"compile.optimizer": "{type: SGD, momentum: 0.9}"})
    assert data["compile"]["optimizer"] == {"type": "SGD", "momentum": 0.9}


def test_a_spec_file_with_a_search_loads_and_its_base_is_the_plain_spec(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(SEARCH)
    spec = load_spec(path)
    plain = parse_spec(BASE)
    assert spec.search is not None and spec.layers == plain.layers and spec.optimizer == plain.optimizer


def test_a_points_data_is_a_complete_plain_spec_even_from_a_spec_with_extends(tmp_path):
    from conftest import ROOT

    from fmnist_spec import validate

    spec = load_spec(ROOT / "specs" / "search_learning_rate_width.yaml", ["fit.epochs=2"])
    data = point_data(spec, {"compile.optimizer.learning_rate": 0.0012345678, "layers[1].units": 150})
    assert "extends" not in data and "search" not in data and data["fit"]["epochs"] == 2
    assert data["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.0012345678}  # as suggested
    best = tmp_path / "best.yaml"
    best.write_text(yaml.safe_dump(data, sort_keys=False))
    assert validate(best) == [] and load_spec(best).layers[1].arguments["units"] == 150
