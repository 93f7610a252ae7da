"""render: the resolved spec with every default, each value marked with its origin."""

import re
import dataclasses
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, SPECS
from fmnist_spec import SpecError, load_spec, parse_spec
from fmnist_spec.tools.render import render

RELU_ADAM = ROOT / "specs" / "relu_adam.yaml"  # extends relu_flatten.yaml, sets the optimizer
RELU_FLATTEN = ROOT / "specs" / "relu_flatten.yaml"


def _comments(text):
    """{line text without comment: comment} for every line of a render."""
    out = {}
    for line in text.splitlines()[1:]:
        value, _, comment = line.partition("# ")
        out[value.rstrip()] = comment
    return out


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_render_without_comments_is_the_resolved_spec(path):
    text = render(path)
    spec = load_spec(path)
    expected = spec.resolved() | ({"search": spec.search.section()} if spec.search else {})
    assert yaml.safe_load(text) == expected
    again = parse_spec(text, "rendered.yaml")
    assert (again.optimizer.type, again.optimizer.arguments) == (spec.optimizer.type, spec.optimizer.arguments)
    assert dataclasses.replace(again, file=spec.file, optimizer=spec.optimizer) == spec  # 'given' has defaults
    lines = text.splitlines()[1:]
    assert all(" # " in line for line in lines)
    kinds = {line.split("# ", 1)[1].split(" ")[0] for line in lines}
    assert kinds == ({"file", "default", "extends"} if "extends" in path.read_text() else {"file", "default"})


def test_render_marks_file_default_and_set_values():
    comments = _comments(render(RELU_ADAM, ["compile.optimizer.learning_rate=0.01", "fit.epochs=2"]))
    assert comments["spec_version: 1"] == f"extends {RELU_FLATTEN}:4:15"
    assert comments["name: sequential"] == "default"
    assert comments["seed: null"] == "default"
    assert comments["    type: Adam"] == f"file {RELU_ADAM}:6:14"  # from 'optimizer: adam'
    assert comments["    learning_rate: 0.01"] == "--set compile.optimizer.learning_rate=0.01"
    assert comments["    beta_1: 0.9"] == "default"
    assert comments["  loss: sparse_categorical_crossentropy"] == f"extends {RELU_FLATTEN}:11:9"
    assert comments["  epochs: 2"] == "--set fit.epochs=2"
    assert comments["  batch_size: 32"] == f"extends {RELU_FLATTEN}:13:30"
    assert comments["  - type: Flatten"] == f"extends {RELU_FLATTEN}:7:12"
    assert comments["    use_bias: true"] == "default"
    plain = _comments(render(RELU_FLATTEN))
    assert plain["  - type: Flatten"] == f"file {RELU_FLATTEN}:7:12"
    assert plain["  optimizer: rmsprop"] == "default"


def test_render_marks_values_from_extends(tmp_path):
    (tmp_path / "base.yaml").write_text(RELU_FLATTEN.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ncompile:\n  optimizer: sgd\n", encoding="utf-8")
    comments = _comments(render(tmp_path / "child.yaml", ["data.train_samples=600"]))
    assert comments["  optimizer: sgd"] == f"file {tmp_path / 'child.yaml'}:3:14"
    assert comments["  loss: sparse_categorical_crossentropy"] == f"extends {tmp_path / 'base.yaml'}:11:9"
    assert comments["style: add"] == f"extends {tmp_path / 'base.yaml'}:5:8"
    assert comments["  train_samples: 600"] == "--set data.train_samples=600"
    assert comments["  verbose: auto"] == "default"


def test_render_of_an_invalid_spec_raises_with_positions():
    with pytest.raises(SpecError) as err:
        render(RELU_ADAM, ["fit.batch_size=0"])
    assert (err.value.file, err.value.line, err.value.column) == ("--set fit.batch_size=0", 1, 16)


def test_cli_render():
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "render", "specs/sgd.yaml", "--set",
                             "fit.epochs=1"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "  epochs: 1" in result.stdout and "# --set fit.epochs=1" in result.stdout
    assert "    learning_rate: 0.1" in result.stdout and "momentum: 0.0" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "fmnist_spec", "render", "specs/sgd.yaml", "--set", "fit=3"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("--set fit=3:1:5: fit: 3 is not of type 'object'")


def test_render_says_what_threading_auto_gives_for_the_model():
    from fmnist_spec.tools.render import render

    cnn = render(ROOT / "specs" / "cnn.yaml")
    mlp = render(ROOT / "specs" / "relu_adam.yaml")
    for key in ("intra_op_parallelism_threads", "inter_op_parallelism_threads"):
        assert re.search(rf"^  {key}: auto +# default \| auto gives 0 \(TensorFlow chooses\) for a model "
                         r"with Conv2D$", cnn, re.MULTILINE), cnn
        assert re.search(rf"^  {key}: auto +# default \| auto gives 1 for a model without Conv2D$",
                         mlp, re.MULTILINE), mlp
