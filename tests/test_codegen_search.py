"""codegen of a spec with a search: a plain Keras + Optuna script of the same search, executed."""

import ast
import subprocess
import sys

import pytest
from conftest import ROOT, write_fashion_dir

from fmnist_spec import parse_spec
from fmnist_spec.cli import main
from fmnist_spec.errors import HintedError
from fmnist_spec.tools.codegen_search import generate_search

SPEC = """spec_version: 1
seed: 7
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {units: 100, activation: relu}
  - {type: Dropout, rate: 0.3}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 1, batch_size: 16}
data: {validation: {test_size: 0.25, random_state: 1}}
search:
  n_trials: 2
  space:
    compile.optimizer: {choices: [sgd, {type: SGD, momentum: 0.9}, adam]}
    compile.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}
    layers[2].rate: {low: 0.1, high: 0.5, step: 0.1}
    layers[1].units: {low: 16, high: 64, step: 16}
"""


def test_the_script_is_the_notebooks_idiom_inside_an_optuna_objective():
    text = generate_search(parse_spec(SPEC, "search.yaml"))
    for line in ["    optimizer = trial.suggest_categorical('compile.optimizer',",
                 "    learning_rate = trial.suggest_float('compile.optimizer.learning_rate', 0.0001, 0.01, "
                 "log=True)",
                 "    rate = trial.suggest_float('layers[2].rate', 0.1, 0.5, step=0.1)",
                 "    units = trial.suggest_int('layers[1].units', 16, 64, step=16)",
                 "    keras.backend.clear_session()  # a fresh graph for each trial",
                 "    model = keras.Sequential([",
                 "        keras.layers.Dense(units, activation='relu'),",
                 "        keras.layers.Dropout(rate),",
                 "    model.compile(optimizer=optimizer, loss='sparse_categorical_crossentropy',",
                 "    return history.history['val_accuracy'][-1]",
                 "study.optimize(objective, n_trials=2)"]:
        assert line in text, line
    assert "callbacks=[KerasPruningCallback(trial, 'val_accuracy')]" in text
    assert "sampler=optuna.samplers.TPESampler(seed=7)" in text and "pruner=optuna.pruners.MedianPruner()" in text
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"gzip", "os", "sys", "keras", "numpy", "sklearn", "optuna", "optuna_integration"}


def test_a_grid_search_gives_optuna_every_value():
    spec = parse_spec(SPEC.replace("  n_trials: 2\n", "  sampler: grid\n  pruner: none\n").replace(
        "    compile.optimizer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\n", ""))
    text = generate_search(spec)
    assert "    'layers[2].rate': [0.1, 0.2, 0.3, 0.4, 0.5]," in text
    assert "    'compile.optimizer': ['sgd', '{type: SGD, momentum: 0.9}', 'adam']," in text
    assert "sampler=optuna.samplers.GridSampler(SEARCH_SPACE, seed=7)" in text
    assert "pruner=optuna.pruners.NopPruner()" in text and "n_trials=60)" in text


def test_a_key_the_script_cannot_search_is_refused_with_a_hint():
    spec = parse_spec(SPEC.replace("    layers[1].units: {low: 16, high: 64, step: 16}\n",
                                   "    data.scale: {low: 127.5, high: 255.0}\n"))
    with pytest.raises(HintedError, match="data.scale") as info:
        generate_search(spec)
    assert "fmnist-spec search" in info.value.hint


def test_the_generated_search_runs_two_trials_of_one_epoch_and_optimizes(tmp_path, capsys):
    spec, script = tmp_path / "search.yaml", tmp_path / "search.py"
    spec.write_text(SPEC)
    assert main(["codegen", str(spec), "-o", str(script)]) == 0
    assert "Optuna search of 2 trials" in capsys.readouterr().out
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,W,F,B,I",
                           "--line-length", "99", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    data_dir = write_fashion_dir(tmp_path / "fashion", n_train=40, n_test=10)
    run = subprocess.run([sys.executable, str(script), str(data_dir)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                         "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 trials; best value:" in run.stdout
    assert run.stderr.count("Trial 0 finished with value") == 1 and "Trial 1 finished with value" in run.stderr
    best = ast.literal_eval(run.stdout.split("best params: ", 1)[1].strip())
    assert set(best) == {"compile.optimizer", "compile.optimizer.learning_rate", "layers[2].rate",
                         "layers[1].units"}
    assert best["layers[1].units"] in (16, 32, 48, 64) and 1e-4 <= best["compile.optimizer.learning_rate"] <= 1e-2


def test_codegen_of_a_shipped_search_spec_from_the_shell(tmp_path):
    out = tmp_path / "search.py"
    result = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen", "specs/search_optimizer_dropout.yaml",
                             "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "GridSampler(SEARCH_SPACE, seed=42)" in text and "study.optimize(objective, n_trials=20)" in text
    compile(text, str(out), "exec")


def test_codegen_of_a_search_it_cannot_write_is_bad_input_with_a_hint(tmp_path):
    spec = tmp_path / "ds.yaml"
    spec.write_text(f"extends: {ROOT / 'specs' / 'dropout.yaml'}\nsearch:\n  space:\n"
                    "    data.scale: {low: 127.5, high: 255.0}\n")
    done = subprocess.run([sys.executable, "-m", "fmnist_spec", "codegen", str(spec)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: codegen cannot write a search over data.scale")
    assert "hint:" in done.stderr and "Traceback" not in done.stderr


def test_search_flags_take_the_whole_range_of_trials():
    from fmnist_spec.cli.arguments import parser

    args = parser().parse_args(["search", "specs/search_optimizer_dropout.yaml", "--trials", "5000",
                                "--workers", "2"])
    assert (args.trials, args.processes) == (5000, 2)
