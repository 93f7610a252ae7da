"""The search section's checks: each problem at its line and column, the points checked, the cost."""

import subprocess
import sys
import time

import pytest
from conftest import ROOT

from fmnist_spec import validate
from fmnist_spec.language import search_checks
from fmnist_spec.language.search_checks import MAX_CHECKED_POINTS, points_to_check
from fmnist_spec.language.search_space import MAX_GRID_POINTS
from fmnist_spec.language.validation import check_source
from fmnist_spec.source.yaml_source import parse_text

BASE = """spec_version: 1
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 100, activation: relu}
  - {type: Dropout, rate: 0.3}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
"""


def problems(search: str, base: str = BASE):
    return [p for p in check_source(parse_text(base + search, "x.yaml"))[1] if p.severity == "error"]


def space_of(search: str, base: str = BASE):
    spec, found = check_source(parse_text(base + search, "x.yaml"))
    assert spec is not None, [p.render() for p in found]
    return spec.search


def test_a_valid_search_has_no_problem_and_its_base_keeps_no_warning():
    assert check_source(parse_text(BASE + "search:\n  space:\n    layers[2].rate: {low: 0.1, high: 0.5}\n",
                                   "x.yaml"))[1] == []


def test_the_paths_are_read_by_the_parser_set_uses():
    (problem,) = problems("search:\n  space:\n    layers[1]..units: {choices: [50]}\n")
    assert (problem.line, problem.column) == (10, 5) and "not a path" in problem.message
    assert "--set" in problem.hint


def test_a_key_its_class_lacks_names_nothing_with_the_keys_it_has():
    (problem,) = problems("search:\n  space:\n    layers[3].rate: {low: 0.1, high: 0.5}\n")
    assert problem.path == "search.space.layers[3].rate" and (problem.line, problem.column) == (10, 5)
    assert "layers[3] (Dense) has no key 'rate'" in problem.message and "units" in problem.hint


def test_a_learning_rate_of_an_optimizer_given_by_name_is_a_key_of_its_class():
    space = space_of("search:\n  space:\n    compile.optimizer.learning_rate: {low: 1.0e-4, high: 0.1, log: true}\n")
    (parameter,) = space.parameters
    assert (parameter.kind, parameter.log, parameter.step) == ("float", True, None)


def test_every_problem_of_the_section_is_reported_in_one_run():
    found = problems("search:\n  space:\n    layers[9].units: {low: 1, high: 2}\n"
                     "    layers[2].rate: {low: 0.5, high: 0.1}\n    fit.epochs: {choices: [0, 5]}\n")
    assert [(p.line, p.path) for p in found] == [(10, "search.space.layers[9].units"),
                                                (11, "search.space.layers[2].rate.high"),
                                                (12, "search.space.fit.epochs.choices[0]")]


def test_an_int_key_takes_an_int_range_and_a_float_key_a_float_one():
    space = space_of("search:\n  space:\n    fit.batch_size: {low: 32, high: 256, step: 32}\n"
                     "    data.scale: {low: 127.5, high: 255.0, step: 63.75}\n")
    assert [(p.kind, p.size()) for p in space.parameters] == [("int", 8), ("float", 3)]
    (problem,) = problems("search:\n  space:\n    fit.batch_size: {low: 32, high: 256, step: 0.5}\n")
    assert problem.path == "search.space.fit.batch_size.step" and "integer" in problem.message


def test_an_int_range_without_step_counts_every_integer():
    (parameter,) = space_of("search:\n  space:\n    layers[1].units: {low: 50, high: 60}\n").parameters
    assert parameter.step == 1 and parameter.values() == tuple(range(50, 61))


def test_a_float_step_that_divides_in_decimals_is_accepted():
    (parameter,) = space_of("search:\n  space:\n    layers[2].rate: {low: 0.1, high: 0.7, step: 0.2}\n"
                            ).parameters
    assert parameter.values() == (0.1, 0.3, 0.5, 0.7)  # 0.6 / 0.2 is 2.9999999999999996 in floats


def test_the_objective_must_be_recorded_and_a_metric_makes_it_so():
    assert problems("search:\n  objective: val_sparse_categorical_accuracy\n  space:\n"
                    "    layers[2].rate: {low: 0.1, high: 0.5}\n")
    with_metric = BASE.replace("metrics: [accuracy]", "metrics: [accuracy, sparse_categorical_accuracy]")
    space = space_of("search:\n  objective: val_sparse_categorical_accuracy\n  space:\n"
                     "    layers[2].rate: {low: 0.1, high: 0.5}\n", with_metric)
    assert space.direction == "maximize"
    assert space_of("search:\n  objective: val_loss\n  space:\n    layers[2].rate: {low: 0.1, high: 0.5}\n"
                    ).direction == "minimize"


def test_a_grid_as_large_as_the_budget_is_accepted_and_one_point_larger_is_not():
    search = ("search:\n  sampler: grid\n  n_trials: {n}\n  space:\n"
              "    compile.optimizer: {{choices: [sgd, adagrad, rmsprop, adam]}}\n"
              "    layers[2].rate: {{low: 0.1, high: 0.5, step: 0.1}}\n")
    assert space_of(search.format(n=20)).n_trials == 20
    (problem,) = problems(search.format(n=19))
    assert "the grid has 20 points but n_trials is 19" in problem.message and (problem.line, problem.column) == (10, 13)


def test_the_largest_grid_is_the_limit():
    ok = f"search:\n  sampler: grid\n  space:\n    layers[1].units: {{low: 1, high: {MAX_GRID_POINTS}}}\n"
    assert space_of(ok).grid_size() == MAX_GRID_POINTS
    (problem,) = problems(ok.replace(f"high: {MAX_GRID_POINTS}", f"high: {MAX_GRID_POINTS + 1}"))
    assert f"{MAX_GRID_POINTS + 1:,} points" in problem.message


def test_a_random_or_tpe_search_may_have_a_space_larger_than_any_grid():
    space = space_of("search:\n  sampler: random\n  space:\n    layers[1].units: {low: 1, high: 20000}\n")
    assert space.grid_size() == 20000 > MAX_GRID_POINTS and space.n_trials == 20


CNN = """spec_version: 1
layers:
  - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu, input_shape: [28, 28, 1]}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Conv2D, filters: 16, kernel_size: 3, activation: relu}
  - {type: Flatten}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
"""


def test_a_kernel_that_no_longer_fits_is_named_at_its_search_parameter():
    (problem,) = problems("search:\n  space:\n    layers[2].kernel_size: {low: 3, high: 14}\n", CNN)
    assert (problem.path, problem.line, problem.column) == ("search.space.layers[2].kernel_size", 11, 5)
    assert problem.message.startswith("layers[2].kernel_size=14 fails the spec's checks: Conv2D's kernel_size")
    assert "leave 14 out of search.space.layers[2].kernel_size" in problem.hint


def test_a_problem_of_two_parameters_together_names_the_other_value():
    base = BASE.replace("optimizer: adam", "optimizer: {type: SGD, momentum: 0.9}")
    (problem,) = problems("search:\n  space:\n    compile.optimizer: {choices: [sgd, adam]}\n"
                          "    compile.optimizer.momentum: {low: 0.5, high: 0.9}\n", base)
    assert problem.path == "search.space.compile.optimizer.momentum" and problem.line == 11
    assert "(with compile.optimizer=adam)" in problem.message and "momentum" in problem.message


def test_points_are_not_checked_while_the_base_fails_its_own_checks():
    base = BASE.replace("{units: 10, activation: softmax}", "{units: 10, activation: relu}")
    found = problems("search:\n  space:\n    layers[2].rate: {low: 0.1, high: 0.5}\n", base)
    assert [p.path for p in found] == ["layers[3].activation"]  # once, at the base; no point repeats it


def test_a_grid_within_the_cap_is_checked_point_by_point():
    space = space_of("search:\n  sampler: grid\n  space:\n    layers[1].units: {low: 10, high: 40, step: 10}\n"
                     "    layers[2].rate: {low: 0.1, high: 0.5, step: 0.1}\n")
    assert points_to_check(space) == space.grid() and len(space.grid()) == 20


def test_a_continuous_space_is_checked_at_its_corners():
    space = space_of("search:\n  space:\n    compile.optimizer: {choices: [sgd, adam]}\n"
                     "    layers[2].rate: {low: 0.1, high: 0.5}\n")
    assert points_to_check(space) == [{"compile.optimizer": o, "layers[2].rate": r}
                                      for o in ("sgd", "adam") for r in (0.1, 0.5)]


def test_a_large_space_is_checked_value_by_value_within_the_cap():
    search = "search:\n  space:\n" + "".join(
        f"    layers[{i}].{key}: {{choices: [{values}]}}\n" for i, key, values in
        [(1, "units", "10, 20, 30, 40, 50, 60, 70, 80"), (1, "activation", "relu, sigmoid, tanh, elu"),
         (2, "rate", "0.1, 0.2, 0.3, 0.4"), (0, "name", "a, b")])
    space = space_of(search)
    points = points_to_check(space)
    assert len(points) <= MAX_CHECKED_POINTS < 8 * 4 * 4 * 2
    for parameter in space.parameters:  # every value of every parameter is in some checked point
        assert {p[parameter.path] for p in points} == set(parameter.choices)


def test_the_cap_bounds_the_points_checked(monkeypatch):
    search = "search:\n  space:\n    layers[3].activation: {choices: [softmax, relu]}\n"
    assert problems(search)  # relu is checked and fails
    monkeypatch.setattr(search_checks, "MAX_CHECKED_POINTS", 1)
    assert problems(search) == []  # one point checked (softmax): the cap is real


def test_checking_a_search_costs_a_bounded_time():
    search = "search:\n  space:\n" + "".join(
        f"    layers[{i}].{key}: {{choices: [{values}]}}\n" for i, key, values in
        [(1, "units", "10, 20, 30, 40, 50, 60, 70, 80"), (1, "activation", "relu, sigmoid, tanh, elu"),
         (2, "rate", "0.1, 0.2, 0.3, 0.4"), (3, "use_bias", "true, false")])
    source = parse_text(BASE + search, "x.yaml")
    check_source(source)
    start = time.perf_counter()
    spec, _ = check_source(source)
    elapsed = time.perf_counter() - start
    assert spec is not None and elapsed < 2.0, elapsed  # about 0.1 s on the 2-core machine


def test_problems_of_a_set_search_key_are_located_at_the_set_argument(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "search:\n  space:\n    layers[2].rate: {low: 0.1, high: 0.5}\n")
    found = validate(path, ["search.space={layers[3].rate: {low: 0.1, high: 0.5}}"])
    assert [p.file for p in found] == ["--set search.space={layers[3].rate: {low: 0.1, high: 0.5}}"]


def test_language_imports_neither_tensorflow_nor_optuna():
    code = ("import sys; from fmnist_spec import validate; "
            "assert validate('specs/search_optimizer_dropout.yaml') == []; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'optuna')]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("spec", ["search_optimizer_dropout.yaml", "search_learning_rate_width.yaml"])
def test_the_shipped_searches_are_lesson_7_3s_model(spec):
    from fmnist_spec import load_spec

    search, lesson = load_spec(ROOT / "specs" / spec), load_spec(ROOT / "specs" / "dropout.yaml")
    assert search.layers == lesson.layers and search.epochs == lesson.epochs == 10
    assert search.search.objective == "val_accuracy"


def test_a_step_of_any_exponent_is_exact_arithmetic_not_a_crash():
    space = space_of("search:\n  space:\n    layers[2].rate: {low: 0.0, high: 0.9, step: 1.0e-300}\n")
    assert space.parameters[0].size() == 9 * 10**299 + 1
    (problem,) = problems("search:\n  sampler: grid\n  space:\n"
                          "    layers[2].rate: {low: 0.0, high: 0.9, step: 1.0e-300}\n")
    assert "the grid has about 9.0e+299 points" in problem.message
    (problem,) = problems("search:\n  space:\n    fit.epochs: {low: 1, high: 5, step: 100000000000000000000}\n")
    assert "larger than the range 1..5" in problem.message


def test_a_layer_type_may_be_searched_and_each_point_is_checked_as_that_class():
    found = problems("search:\n  space:\n    layers[2].type: {choices: [Dropout, Dense]}\n")
    reasons = [p.message.split("fails the spec's checks: ", 1)[1] for p in found]
    assert reasons[0].startswith("layers[2].rate: unknown key 'rate' for Dense")
    assert reasons[1] == "layers[2]: missing required key 'units'"
    assert all(p.message.startswith("layers[2].type=Dense fails") and p.line == 10 for p in found)


def test_an_index_into_an_empty_list_says_the_base_must_have_the_item():
    (problem,) = problems("search:\n  space:\n    fit.callbacks[0].patience: {choices: [1, 2]}\n")
    assert "fit.callbacks is empty" in problem.message and "add the item" in problem.hint


PATHS = ["compile.optimizer", "compile.optimizer.learning_rate", "compile.optimizer.momentum", "layers[1].units",
         "layers[2].rate", "layers[1].activation", "layers[3]", "layers[7].units", "fit.batch_size", "fit.epochs",
         "data.validation.test_size", "layers", "seed", "fit.callbacks[0].patience", "layers[0].input_shape[0]"]
SCALARS = [0, 1, -1, 0.5, 1.5, 1.0e-300, 1.0e+300, 10**30, "adam", "relu", True, None, [1], {"type": "SGD"}]


def _entry(draw):
    from hypothesis import strategies as st

    if draw(st.booleans()):
        return {"choices": draw(st.lists(st.sampled_from(SCALARS), min_size=1, max_size=4, unique_by=repr))}
    entry = {"low": draw(st.sampled_from(SCALARS[:8])), "high": draw(st.sampled_from(SCALARS[:8]))}
    if draw(st.booleans()):
        entry["step"] = draw(st.sampled_from([1, 0.1, 0.15, 1.0e-300, 10**30]))
    if draw(st.booleans()):
        entry["log"] = True
    return entry


def test_any_space_gives_a_spec_or_located_problems_never_a_crash():
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @st.composite
    def sections(draw):
        paths = draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3, unique=True))
        section = {"space": {p: _entry(draw) for p in paths}}
        section["sampler"] = draw(st.sampled_from(["tpe", "grid", "random"]))
        if draw(st.booleans()):
            section["n_trials"] = draw(st.sampled_from([1, 5, 10000]))
        return section

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(sections())
    def check(section):
        text = BASE + "search: " + json.dumps(section) + "\n"
        spec, found = check_source(parse_text(text, "x.yaml"))
        assert spec is not None or found
        for p in found:
            assert isinstance(p.line, int) and isinstance(p.column, int) and p.message, p
        if spec is not None:
            spec.search.grid_size()
            spec.search.section()

    check()


def test_received_values_are_spelled_as_yaml_writes_them_not_as_python():
    found = problems("search:\n  space:\n    layers[1].units: {choices: [64, null, true]}\n"
                     "    layers[1].units.x: {choices: [1]}\n")
    messages = " | ".join(p.message for p in found)
    assert "the choice null is not a value layers[1].units takes: null is not of type 'integer'" in messages
    assert "the choice true is not a value" in messages
    assert "None" not in messages and "True" not in messages, messages
