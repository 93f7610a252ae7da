"""Command-line flags are spec overrides; one exit-status map; the resume command."""

import json
import shlex
import types
from pathlib import Path

import pytest
from conftest import ROOT

from fmnist_spec.cli import main
from fmnist_spec.cli.arguments import parser
from fmnist_spec.cli.main import EXIT_STATUS, exit_status_of
from fmnist_spec.running.metrics import Metrics

UNSEEDED = """\
spec_version: 1
name: unseeded
layers:
  - {type: Flatten, input_shape: [28, 28]}
  - {type: Dense, units: 10, activation: softmax}
compile: {optimizer: sgd, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
data:
  validation: {test_size: 0.2, random_state: null}
"""


@pytest.fixture
def unseeded(tmp_path):
    path = tmp_path / "unseeded.yaml"
    path.write_text(UNSEEDED)
    return path


def _fake_train(calls, out_dir, status="finished"):
    """A train with the running stage's new signature that records the spec it was given."""
    def train(spec, *, out=None, overwrite=False, resume=False, data_dir=None, data=None,
              tensorboard=None, verbose=None):
        calls.append(types.SimpleNamespace(spec=spec, out=out, overwrite=overwrite, resume=resume))
        metrics = Metrics(
            status=status, epochs=spec.epochs, message="loss is nan",
            train={"accuracy": 0.5}, validation={"accuracy": 0.4}, test={"accuracy": 0.3},
            fit_seconds=0.1, samples={"train": 10, "validation": 2, "test": 3}, data_source="fake")
        return types.SimpleNamespace(out_dir=Path(out_dir), metrics=metrics, history={}, model=None,
                                     is_chief=True, output_lost=False)
    return train


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    import fmnist_spec.running.train as train_module

    calls = []
    monkeypatch.setattr(train_module, "train", _fake_train(calls, tmp_path / "run"))
    return calls


def test_epochs_flag_out_of_range_is_located_at_the_flag(capsys):
    assert main(["train", str(ROOT / "specs" / "relu_adam.yaml"), "--epochs", "0"]) == 2
    assert capsys.readouterr().err.startswith("--epochs 0:1:10: fit.epochs: 0 is less than the minimum of 1")


@pytest.mark.parametrize("flag, value, expected", [
    ("--style", "tree", "--style tree:1:9: style: 'tree' is not a known style"),
    ("--timeout", "0", "--timeout 0:1:11: distribute.timeout_seconds: 0 is less than or equal to the minimum"),
    ("--worker-index", "x", "--worker-index x:1:16: distribute.worker_index: "),
    ("--distribute", "mirored", "--distribute mirored:1:14: distribute.strategy: "),
])
def test_flag_values_are_checked_by_the_schema_at_the_flag(flag, value, expected, capsys):
    assert main(["train", str(ROOT / "specs" / "relu_adam.yaml"), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected), err
    assert "Traceback" not in err


def test_workers_flag_gets_the_cross_field_check_of_the_strategy_it_sets(unseeded, capsys, recorded):
    assert main(["train", str(unseeded), "--set", "distribute.strategy=multi_worker_mirrored"]) == 2
    by_set = capsys.readouterr().err
    assert main(["train", str(unseeded), "--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "0"]) == 2
    by_flag = capsys.readouterr().err
    expected = f"{unseeded}:8:46: data.validation.random_state: random_state null gives each worker"
    assert by_set.startswith(expected) and by_flag.startswith(expected)
    assert by_set == by_flag and not recorded  # rejected before any training


def test_workers_flags_set_the_cluster_in_the_spec(tmp_path, capsys, recorded):
    spec = tmp_path / "s.yaml"
    spec.write_text(UNSEEDED.replace("random_state: null", "random_state: 1"))
    assert main(["train", str(spec), "--workers", "127.0.0.1:1, 127.0.0.1:2", "--worker-index", "1",
                 "--timeout", "7.5", "--out", str(tmp_path / "run")]) == 0
    settings = recorded[0].spec.distribute
    assert settings.strategy == "multi_worker_mirrored" and tuple(settings.workers) == ("127.0.0.1:1", "127.0.0.1:2")
    assert settings.worker_index == 1 and settings.timeout_seconds == 7.5


def test_flags_win_over_a_set_of_the_same_key_whatever_the_order(tmp_path, capsys, recorded):
    spec = str(ROOT / "specs" / "relu_adam.yaml")
    assert main(["train", spec, "--epochs", "3", "--set", "fit.epochs=9", "--seed", "4", "--style", "add",
                 "--set", "seed=8", "--out", str(tmp_path / "run")]) == 0
    ran = recorded[0].spec
    assert (ran.epochs, ran.seed, ran.style) == (3, 4, "add")


def test_render_names_the_flag_a_value_came_from(capsys):
    assert main(["render", str(ROOT / "specs" / "relu_adam.yaml"), "--set", "fit.epochs=2"]) == 0
    assert "# --set fit.epochs=2" in capsys.readouterr().out
    assert main(["codegen", str(ROOT / "specs" / "relu_adam.yaml"), "--style", "add"]) == 0
    assert "model.add(" in capsys.readouterr().out


def test_workers_with_another_distribute_flag_is_refused(capsys, recorded):
    assert main(["train", str(ROOT / "specs" / "relu_adam.yaml"), "--workers", "a:1", "--worker-index", "0",
                 "--distribute", "default"]) == 2
    assert capsys.readouterr().err.startswith("--distribute default:1:14: distribute.strategy: --workers starts")


def test_nan_loss_run_exits_1(monkeypatch, tmp_path, capsys):
    import fmnist_spec.running.train as train_module

    monkeypatch.setattr(train_module, "train", _fake_train([], tmp_path, status="nan_loss"))
    assert main(["train", str(ROOT / "specs" / "relu_adam.yaml"), "--out", str(tmp_path / "run")]) == 1
    assert "error: loss is nan" in capsys.readouterr().err


# --- the resume command -------------------------------------------------------------------------


def _interrupted(out_dir, finished, resumable):
    from fmnist_spec.running.train import TrainingInterrupted

    return TrainingInterrupted(out_dir, finished, 3, resumable, out_dir.parent / f".{out_dir.name}.partial")


@pytest.mark.parametrize("resumable", [True, False])
def test_an_interrupted_train_prints_exactly_the_command_that_resumes(resumable, monkeypatch, tmp_path, capsys):
    import fmnist_spec.running.train as train_module

    out = tmp_path / "my runs" / "r1"

    def interrupted(spec, **kwargs):
        raise _interrupted(out, 1 if resumable else 0, resumable)

    monkeypatch.setattr(train_module, "train", interrupted)
    argv = ["train", str(ROOT / "specs" / "relu_adam.yaml"), "--set", "compile.optimizer.learning_rate=0.01",
            "--seed", "7", "--set", "layers[1].units=50", "--epochs", "3"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("resume with: ")]
    if not resumable:
        assert lines == [] and "nothing was kept" in err
        return
    assert f"finished and kept in {out.parent / '.r1.partial'}" in err
    expected = ["fmnist-spec", *argv, "--out", str(out), "--resume"]
    assert lines == [f"resume with: {shlex.join(expected)}"]
    again = parser().parse_args(shlex.split(lines[0][len("resume with: "):])[1:])
    assert again.set == ["compile.optimizer.learning_rate=0.01", "layers[1].units=50"]
    assert (again.seed, again.epochs, again.out, again.resume) == ("7", "3", str(out), True)


# --- one exit-status map ------------------------------------------------------------------------


def test_the_exit_status_map_covers_the_library_errors():
    from fmnist_spec.errors import Problem, SpecError
    from fmnist_spec.running.data import DataError
    from fmnist_spec.running.distributed.cluster import DistributeError
    from fmnist_spec.running.run_folder import RunFolderError
    from fmnist_spec.tools.evaluate import InputError

    class RunFolderBusy(RunFolderError):  # a subclass maps as its base
        pass

    assert exit_status_of(SpecError([Problem("f", 1, 1, "", "m")])) == 2
    assert exit_status_of(RunFolderError("x")) == exit_status_of(RunFolderBusy("x")) == 2
    assert exit_status_of(InputError("x")) == 2
    assert exit_status_of(DataError("x")) == exit_status_of(DistributeError("x")) == 1
    assert exit_status_of(_interrupted(Path("r"), 1, True)) == exit_status_of(KeyboardInterrupt()) == 130
    assert exit_status_of(ValueError("a bug")) is None  # bugs keep their traceback
    assert set(EXIT_STATUS.values()) == {1, 2, 130}


def test_a_bug_is_not_hidden_behind_an_exit_status(monkeypatch):
    from fmnist_spec.cli import commands

    def broken(args):
        """Print the schema (broken)."""
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(commands, "schema", broken)
    with pytest.raises(ZeroDivisionError):
        main(["schema"])


def test_usage_errors_exit_2_with_usage_and_a_suggestion(capsys):
    assert main(["valdate", "x.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fmnist-spec") and "did you mean 'validate'?" in err


def test_json_output_of_a_bad_spec_is_the_same_envelope(capsys):
    bad = ROOT / "tests" / "bad_specs" / "misspelt_activation.yaml"
    assert main(["build", str(bad), "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert (report["command"], report["exit_status"], report["result"], report["error"]) == ("build", 2, None, None)
    assert report["problems"][0]["line"] == 4 and report["problems"][0]["column"] == 50


def test_a_shortened_option_is_not_taken_for_another(capsys):
    """argparse would read --epoch as --epochs; fmnist-spec takes options only as written."""
    assert main(["validate", "specs/relu_adam.yaml", "--se", "fit.epochs=2"]) == 2
    assert "unrecognized arguments: --se" in capsys.readouterr().err


PATH_FLAGS = [("search", "--out"), ("search", "--data-dir"), ("train", "--out"), ("train", "--tensorboard"),
              ("train", "--data-dir"), ("compare", "--out"), ("codegen", "-o"), ("build", "--save"),
              ("build", "--plot"), ("evaluate", "--confusion")]


@pytest.mark.parametrize("command,flag", PATH_FLAGS)
def test_an_empty_path_is_refused_when_the_arguments_are_read(command, flag, capsys):
    """``--out ''`` once trained a whole search in the current folder (and train refused it only
    after 25 s of TensorFlow's import); ``--tensorboard ''`` was silently no TensorBoard."""
    target = str(ROOT / "specs" / ("search_optimizer_dropout.yaml" if command == "search" else "relu_adam.yaml"))
    assert main([command, target, flag, ""]) == 2
    err = capsys.readouterr().err
    assert f"{flag}" in err and "expected a path. Received: '' (an empty string)" in err and "Traceback" not in err
