"""--set overrides and extends: values, errors at the right file and column, and provenance."""

import subprocess
import sys

import pytest

from conftest import ROOT, SPECS
from fmnist_spec import SpecError, load_spec, validate
from fmnist_spec.source.compose import compose

RELU_ADAM = ROOT / "specs" / "relu_adam.yaml"

BASE = """\
spec_version: 1
style: add
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 100, activation: relu}
  - {units: 10, activation: softmax}
compile:
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {epochs: 5, batch_size: 32}
"""


def _files(tmp_path, **texts):
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


# --- --set


def test_set_changes_values_as_if_written_in_the_file():
    spec = load_spec(RELU_ADAM, ["fit.epochs=10", "layers[1].activation=sigmoid", "data.train_samples=600",
                                 "layers[1].units=64"])
    assert spec.epochs == 10 and spec.train_samples == 600
    assert spec.layers[1].arguments["activation"] == "sigmoid" and spec.layers[1].arguments["units"] == 64
    assert load_spec(RELU_ADAM).epochs == 5  # the file is unchanged


def test_set_optimizer_argument_turns_a_name_into_a_mapping():
    spec = load_spec(RELU_ADAM, ["compile.optimizer.learning_rate=0.01"])
    assert spec.optimizer.type == "Adam" and spec.optimizer.arguments["learning_rate"] == 0.01
    assert spec.optimizer.given == {"type": "Adam", "learning_rate": 0.01}
    # no optimizer in the file: Keras's default rmsprop takes the argument
    spec = load_spec(ROOT / "specs" / "dense_sigmoid.yaml", ["compile.optimizer.momentum=0.5"])
    assert spec.optimizer.given == {"type": "RMSprop", "momentum": 0.5}


def test_set_values_are_yaml_flow_values():
    spec = load_spec(RELU_ADAM, ["compile.optimizer={type: SGD, momentum: 0.9, nesterov: true}",
                                 "compile.metrics=[accuracy, sparse_categorical_accuracy]", "seed=7",
                                 "name=패션 모델"])
    assert spec.optimizer.given == {"type": "SGD", "momentum": 0.9, "nesterov": True}
    assert spec.metrics == ("accuracy", "sparse_categorical_accuracy")
    assert spec.seed == 7 and spec.name == "패션 모델"
    assert load_spec(RELU_ADAM, ["data.validation.random_state=null"]).random_state is None


@pytest.mark.parametrize("argument,expected", [
    ("fit.epochs=0", "--set fit.epochs=0:1:12: fit.epochs: 0 is less than the minimum of 1"),
    ("fit.epochs=yes", "--set fit.epochs=yes:1:12: fit.epochs: 'yes' is not of type 'integer'"),
    ("layers[1].activation=sigmod",
     "--set layers[1].activation=sigmod:1:22: layers[1].activation: 'sigmod' is not a known activation"),
    ("compile.optimizer.learnin_rate=0.1",
     "--set compile.optimizer.learnin_rate=0.1:1:1: compile.optimizer.learnin_rate: unknown key "
     "'learnin_rate' for Adam"),
    ("layers[2].units=5", "--set layers[2].units=5:1:17: layers[2].units: the output layer has 5 units"),
    ("layers[7].units=3", "--set layers[7].units=3:1:1: layers[7]: index 7 is out of range: layers has 3 items"),
    ("fit.epochs=[1", "--set fit.epochs=[1:1:14: fit.epochs: expected ',' or ']'"),
    ("fit..epochs=1", "--set fit..epochs=1:1:5: '' is not a key of a dotted path"),
    ("fit.epochs", "--set fit.epochs: expected KEY=VALUE"),
    ("fit.epochs=", "--set fit.epochs=:1:12: fit.epochs: no value after '='"),
    ("fit.epochs.x=1", "--set fit.epochs.x=1:1:1: fit.epochs: is 5, which has no keys or items to set"),
    ("extends=base.yaml", "--set extends=base.yaml:1:1: extends: extends cannot be set with --set"),
])
def test_set_errors_name_the_set_argument_and_column(argument, expected):
    problems = validate(RELU_ADAM, [argument])
    assert problems, argument
    assert problems[0].file == f"--set {argument}"
    assert problems[0].render().startswith(expected)


def test_set_error_hints_come_along():
    problem = validate(RELU_ADAM, ["compile.optimizer.learnin_rate=0.1"])[0]
    assert problem.hint == "did you mean 'learning_rate'?"


def test_errors_in_the_file_still_point_at_the_file_with_overrides():
    bad = ROOT / "tests" / "bad_specs" / "unit_negative.yaml"
    problems = validate(bad, ["fit.epochs=2"])
    assert [(p.file, p.line, p.column, p.path) for p in problems] == [(str(bad), 6, 48, "layers[2].units")]


def test_later_set_wins_and_can_fix_a_bad_file():
    bad = ROOT / "tests" / "bad_specs" / "unit_negative.yaml"
    assert len(validate(bad)) == 1
    assert validate(bad, ["layers[2].units=10"]) == []
    assert load_spec(RELU_ADAM, ["fit.epochs=3", "fit.epochs=4"]).epochs == 4


# --- extends


def test_extends_merges_mappings_and_replaces_lists(tmp_path):
    _files(tmp_path, base=BASE, child="extends: base.yaml\ncompile:\n  optimizer: {type: SGD, learning_rate: 0.1}\n"
                                      "fit: {epochs: 2}\n")
    spec = load_spec(tmp_path / "child.yaml")
    assert spec.optimizer.given == {"type": "SGD", "learning_rate": 0.1}
    assert spec.loss.name == "sparse_categorical_crossentropy" and spec.metrics == ("accuracy",)
    assert spec.epochs == 2 and spec.batch_size == 32 and spec.style == "add"
    assert [layer.arguments.get("units") for layer in spec.layers] == [None, 100, 10]
    _files(tmp_path, child2="extends: base.yaml\nlayers:\n  - {units: 10, activation: softmax, input_shape: [784]}\n"
                            "data: {flatten: true}\n")
    spec = load_spec(tmp_path / "child2.yaml")
    assert len(spec.layers) == 1 and spec.input_shape == (784,)


def test_extends_chain_and_relative_paths(tmp_path):
    (tmp_path / "bases").mkdir()
    _files(tmp_path / "bases", base=BASE, mid="extends: base.yaml\nfit: {batch_size: 64}\n")
    _files(tmp_path, top="extends: bases/mid.yaml\nfit: {epochs: 1}\n")
    spec = load_spec(tmp_path / "top.yaml", ["compile.optimizer=adam"])
    assert (spec.epochs, spec.batch_size, spec.optimizer.given) == (1, 64, "adam")


def test_errors_point_at_the_file_that_wrote_the_value(tmp_path):
    _files(tmp_path, base=BASE.replace("units: 100", "units: -100"), child="extends: base.yaml\nfit: {epochs: 0}\n")
    problems = validate(tmp_path / "child.yaml")
    located = {(p.file, p.line, p.column, p.path) for p in problems}
    assert (str(tmp_path / "base.yaml"), 5, 13, "layers[1].units") in located
    assert (str(tmp_path / "child.yaml"), 2, 15, "fit.epochs") in located


def test_overridden_base_value_is_not_reported(tmp_path):
    _files(tmp_path, base=BASE.replace("units: 100", "units: -100"),
           child="extends: base.yaml\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                 "  - {units: 10, activation: softmax}\n")
    assert validate(tmp_path / "child.yaml") == []


def test_extends_missing_cycle_and_bad_value(tmp_path):
    _files(tmp_path, a="extends: b.yaml\n", b="extends: a.yaml\n", missing="extends: nope.yaml\n",
           number="extends: 3\n", syntax="extends: broken.yaml\n", broken="layers: [\n")
    problem = validate(tmp_path / "missing.yaml")[0]
    assert (problem.file, problem.line, problem.column, problem.path) == (str(tmp_path / "missing.yaml"), 1, 10,
                                                                         "extends")
    assert "the base spec 'nope.yaml' does not exist" in problem.message
    problem = validate(tmp_path / "a.yaml")[0]
    assert "makes a cycle: a.yaml -> b.yaml -> a.yaml" in problem.message
    assert "must be a file name, not 3" in validate(tmp_path / "number.yaml")[0].message
    problem = validate(tmp_path / "syntax.yaml")[0]
    assert problem.file == str(tmp_path / "broken.yaml") and problem.line == 2


def test_extends_null_is_no_base(tmp_path):
    _files(tmp_path, plain=BASE + "extends: null\n")
    assert load_spec(tmp_path / "plain.yaml").epochs == 5


def test_spec_without_extends_or_set_is_read_as_before():
    source = compose(ROOT / "specs" / "relu_flatten.yaml")
    assert type(source).__name__ == "Source"


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_specs_validate_with_an_override(path):
    assert validate(path, ["fit.epochs=1"]) == []
    assert load_spec(path, ["fit.epochs=1"]).epochs == 1


# --- CLI


def run(*args):
    return subprocess.run([sys.executable, "-m", "fmnist_spec", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_cli_set_on_validate_build_codegen_and_train(tmp_path):
    result = run("validate", "specs/relu_adam.yaml", "--set", "fit.epochs=0")
    assert result.returncode == 2
    assert result.stderr.startswith("--set fit.epochs=0:1:12: fit.epochs: 0 is less than the minimum of 1")
    result = run("codegen", "specs/relu_adam.yaml", "--set", "compile.optimizer.learning_rate=0.01",
                 "--set", "fit.epochs=2")
    assert result.returncode == 0
    assert "optimizer=keras.optimizers.Adam(learning_rate=0.01)" in result.stdout and "epochs=2," in result.stdout
    result = run("build", "specs/relu_adam.yaml", "--set", "layers[1].units=50")
    assert result.returncode == 0 and "39,760 parameters" in result.stdout, result.stdout
    result = run("train", "specs/relu_adam.yaml", "--set", "fit.epochs=zero")
    assert result.returncode == 2 and "--set fit.epochs=zero:1:12" in result.stderr


def test_compose_opens_whatever_named_values_the_language_gives_it(tmp_path):
    """source/ knows no optimizer names: the spec language passes them (and could pass losses)."""
    from fmnist_spec.source.compose import NamedClasses

    path = tmp_path / "spec.yaml"
    path.write_text(BASE, "utf-8")
    losses = NamedClasses(("compile", "loss"), {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"})
    source = compose(path, ["compile.loss.from_logits=true"], (losses,))
    assert source.data["compile"]["loss"] == {"type": "SparseCategoricalCrossentropy", "from_logits": True}
    with pytest.raises(SpecError) as err:  # without the vocabulary a name has no keys to set
        compose(path, ["compile.loss.from_logits=true"])
    assert "which has no keys or items to set" in err.value.problems[0].message
    optimizers = NamedClasses(("compile", "optimizer"), {"sgd": "SGD"}, default="sgd")
    source = compose(path, ["compile.optimizer.momentum=0.5"], (optimizers,))
    assert source.data["compile"]["optimizer"] == {"type": "SGD", "momentum": 0.5}


# --- extends of a file that is not a spec: nothing of it is quoted

SECRET = "root:$y$j9T$s3cr3tHash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize(("name", "text", "why"), [
    ("shadow", SECRET, "not a .yaml or .yml file; it was not read"),
    ("link.yaml", None, "not a .yaml or .yml file; it was not read"),  # a .yaml name for the shadow file
    ("other.yaml", "password: s3cr3tHash\nhosts: [a, b]\n", "no spec key at its top level"),
    ("broken.yaml", "s3cr3tHash: [\n  - !!python/name:os.system\n", "not readable as a YAML mapping"),
    ("list.yaml", "- s3cr3tHash\n", "not a YAML mapping"),
])
def test_extends_of_a_file_that_is_not_a_spec_quotes_none_of_it(tmp_path, name, text, why, capsys):
    from fmnist_spec.cli.main import main

    (tmp_path / "etc").mkdir()
    shadow = tmp_path / "etc" / "shadow"
    shadow.write_text(SECRET)
    base = tmp_path / "etc" / name
    if text is None:
        base.symlink_to(shadow)
    elif name != "shadow":
        base.write_text(text)
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "child.yaml"
    spec.write_text(f"spec_version: 1\nextends: ../etc/{name}\n")
    problems = validate(spec)
    assert [(p.file, p.line, p.column, p.path) for p in problems] == [(str(spec), 2, 10, "extends")]
    assert problems[0].message == f"the base spec '../etc/{name}' is not a spec ({why})"
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "s3cr3tHash" not in err and "daemon" not in err and "hint: extends takes a spec" in err


def test_a_base_with_spec_keys_and_errors_is_reported_in_full(tmp_path):
    _files(tmp_path, child="extends: base.yaml\n", base="layers: [\n")  # a spec with a syntax error
    problem = validate(tmp_path / "child.yaml")[0]
    assert (problem.file, problem.line) == (str(tmp_path / "base.yaml"), 2)
    _files(tmp_path, base="fit: {epochs: 2}\nlayer: []\n")  # a partial base with a misspelt key
    problems = validate(tmp_path / "child.yaml")
    assert any(p.file == str(tmp_path / "base.yaml") and "unknown key 'layer'" in p.message for p in problems)


def test_an_index_into_an_empty_list_says_the_list_is_empty():
    with pytest.raises(SpecError) as error:
        load_spec(RELU_ADAM, ["fit.callbacks[0].patience=3"])
    (problem,) = error.value.problems
    assert "fit.callbacks has 0 items" in problem.message and "0 to -1" not in problem.hint
    assert problem.hint == "the list is empty: add its first item in the spec"
