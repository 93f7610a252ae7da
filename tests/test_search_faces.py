"""What render and train say about a spec's search section."""

import json

import yaml
from conftest import ROOT

from fmnist_spec.cli import main
from fmnist_spec.tools.render import render

SPEC = ROOT / "specs" / "search_optimizer_dropout.yaml"


def _comments(text):
    return {line.partition("# ")[0].rstrip(): line.partition("# ")[2] for line in text.splitlines()[1:]}


def test_render_shows_the_resolved_space_with_its_kinds_and_defaults():
    text = render(SPEC)
    comments = _comments(text)
    assert comments["search:"].endswith("grid search of 20 trials over a grid of 20 points; train trains the "
                                        "base spec (fmnist-spec search runs the study)")
    assert comments["  direction: maximize"] == "default | follows the objective val_accuracy"
    assert comments["  n_trials: 20"] == "default | the grid's size"
    assert comments["    compile.optimizer:"].endswith("| categorical, 4 values")
    assert comments["    layers[2].rate:"].endswith("| float, 5 values")
    section = yaml.safe_load(text)["search"]
    assert section["space"]["layers[2].rate"] == {"low": 0.1, "high": 0.5, "step": 0.1, "log": False}
    assert (section["sampler"], section["pruner"]) == ("grid", "median")


def test_render_of_a_continuous_space_says_so():
    comments = _comments(render(ROOT / "specs" / "search_learning_rate_width.yaml"))
    assert comments["    compile.optimizer.learning_rate:"].endswith("| float, log, continuous")
    assert comments["    layers[1].units:"].endswith("| int, 6 values")


def test_train_on_a_search_spec_trains_the_base_point_and_says_so(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(SPEC), "--epochs", "1", "--data-dir", str(tiny_data_dir), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"note: {SPEC} has a search section (2 parameters: compile.optimizer, layers[2].rate); train "
            "trains its base values as written") in err
    assert f"fmnist-spec search {SPEC} --out DIR" in err
    recorded = yaml.safe_load((out / "spec.yaml").read_text())
    assert "search" not in recorded and recorded["layers"][2]["rate"] == 0.3  # the base point, a plain run
    assert recorded["compile"]["optimizer"] == "adam"
    assert json.loads((out / "metrics.json").read_text())["status"] == "finished"
