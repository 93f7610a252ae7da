import pytest

from conftest import BAD_SPECS, SPECS
from fmnist_spec import SpecError, load_spec, parse_spec, validate


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_every_shipped_spec_is_valid(path):
    assert validate(path) == []
    assert load_spec(path).layers


def _expectation(path):
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    json_path, position, keyword = first[len("# expect: "):].split(" ", 2)
    line, column = (int(n) for n in position.split(":"))
    return ("" if json_path == "(root)" else json_path), line, column, keyword


@pytest.mark.parametrize("path", BAD_SPECS, ids=[p.name for p in BAD_SPECS])
def test_bad_spec_is_rejected_at_its_position(path):
    json_path, line, column, keyword = _expectation(path)
    problems = [p for p in validate(path) if p.severity == "error"]
    assert problems, f"{path.name} was accepted"
    found = [(p.path, p.line, p.column) for p in problems]
    assert (json_path, line, column) in found, found
    match = next(p for p in problems if (p.path, p.line, p.column) == (json_path, line, column))
    assert keyword.lower() in (match.message + " " + match.hint).lower(), match.render()
    assert all(p.file == str(path) for p in problems)


def test_bad_spec_corpus_has_at_least_60_files():
    assert len(BAD_SPECS) >= 60


def test_missing_file_and_directory_are_problems_without_a_position(tmp_path):
    missing = validate(tmp_path / "nope.yaml")
    assert [(p.message, p.line, p.severity) for p in missing] == [("no such file", None, "error")]
    directory = validate(tmp_path)
    assert [(p.message, p.line) for p in directory] == [("is a directory, not a spec file", None)]


def test_test_size_in_percent_explains_scikit_learn_and_the_split():
    problems = validate(BAD_SPECS[0].parent / "test_size_percent.yaml")
    assert len(problems) == 1
    assert "20 images for validation, not 20 %" in problems[0].message
    assert "48,000 / 12,000" in problems[0].hint


def test_split_sizes_follow_scikit_learn():
    from sklearn.model_selection import train_test_split

    from fmnist_spec.language.checks import split_sizes

    assert split_sizes({}) == (48_000, 12_000, 10_000)
    for n, test_size in [(10, 0.25), (1000, 0.33), (59_999, 0.1)]:
        x_train, x_val = train_test_split(range(n), test_size=test_size, random_state=0)
        spec = {"data": {"train_samples": n, "validation": {"test_size": test_size}}}
        assert split_sizes(spec) == (len(x_train), len(x_val), 10_000)


def test_units_of_a_billion_are_refused_with_the_parameter_count():
    problems = validate(BAD_SPECS[0].parent / "units_billion.yaml")
    assert [p.path for p in problems] == ["layers[1].units"]
    assert "795,000,000,010 parameters" in problems[0].message  # 784 * 1e9 + 1e9 + (1e9 * 10 + 10)


def test_floats_are_not_integers():
    with pytest.raises(SpecError) as err:
        parse_spec("spec_version: 1\nlayers:\n  - {units: 10.0, activation: softmax, input_shape: [784]}\n"
                   "compile: {loss: sparse_categorical_crossentropy}\ndata: {flatten: true}\n")
    assert err.value.path == "layers[0].units" and "without the decimal point" in err.value.hint


def test_all_schema_errors_are_reported_in_one_run():
    text = ("spec_version: 1\nlayers:\n  - {units: -1, input_shape: [784], activation: sigmod}\n"
            "compile: {loss: sparse_categorical_crossentropy, metrics: [acc]}\nfit: {epochs: 0}\n")
    with pytest.raises(SpecError) as err:
        parse_spec(text, "x.yaml")
    paths = [p.path for p in err.value.problems]
    assert paths == ["layers[0].units", "layers[0].activation", "compile.metrics[0]", "fit.epochs"]
    assert err.value.file == "x.yaml" and (err.value.line, err.value.column) == (3, 13)


def test_spec_error_renders_file_line_column_path_and_hint():
    with pytest.raises(SpecError) as err:
        parse_spec("spec_version: 1\nlayers:\n  - {units: 10, input_shape: [784], activation: softmx}\n"
                   "compile: {loss: sparse_categorical_crossentropy}\ndata: {flatten: true}\n", "specs/x.yaml")
    text = str(err.value)
    assert text.startswith("specs/x.yaml:3:49: layers[0].activation: 'softmx' is not a known activation")
    assert "hint: did you mean 'softmax'?" in text


def test_defaults_are_filled_from_the_schema():
    spec = parse_spec("spec_version: 1\nlayers:\n  - {units: 10, activation: softmax, input_shape: [784]}\n"
                      "compile: {loss: sparse_categorical_crossentropy}\ndata: {flatten: true}\n")
    assert spec.optimizer.type == "RMSprop" and spec.optimizer.given == "rmsprop"
    assert (spec.epochs, spec.batch_size, spec.scale, spec.test_size, spec.random_state) == (1, 32, 255.0, 0.2, 42)
    assert spec.layers[0].arguments == {"units": 10, "activation": "softmax", "use_bias": True,
                                        "kernel_initializer": "glorot_uniform"}
    assert spec.name == "sequential" and spec.style == "list"


def test_optimizer_mapping_gets_keras_defaults_for_unset_arguments():
    spec = load_spec(next(p for p in SPECS if p.name == "sgd_nesterov.yaml"))
    assert spec.optimizer.type == "SGD"
    assert spec.optimizer.arguments == {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}


def test_resolved_spec_is_itself_valid():
    import yaml

    for path in SPECS:
        resolved = load_spec(path).resolved()
        again = parse_spec(yaml.safe_dump(resolved, allow_unicode=True))
        assert again.resolved() == resolved


def test_extends_in_text_without_a_file_is_a_located_error():
    with pytest.raises(SpecError) as err:
        parse_spec("extends: relu_flatten.yaml\ncompile: {optimizer: adam}\n", "x.yaml")
    assert (err.value.path, err.value.line, err.value.column) == ("extends", 1, 1)
