"""dtype_policy: how auto resolves per machine, and the policy through build, train, render,
codegen, export, evaluate and resume. The hardware is injected (a cpuinfo file, a GPU list),
so every branch runs on any machine."""

import json
import subprocess
import sys
from dataclasses import replace

import keras
import numpy as np
import pytest
import yaml

from conftest import ROOT
from fmnist_spec import build_model, load_spec, parse_spec
from fmnist_spec.to_keras import precision
from fmnist_spec.to_keras.builder import compile_model
from fmnist_spec.to_keras.precision import (cpu_bf16_flags, hardware_warning, model_dtype_policy,
                                            resolve_dtype_policy)

TINY_CNN = """spec_version: 1
seed: 5
dtype_policy: POLICY
layers:
  - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu, input_shape: [28, 28, 1]}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Flatten}
  - {units: 10, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 8, verbose: 0}
"""
"""A small convolutional spec (the tiny data: 40 training, 10 validation, 20 test images)."""

MLP = load_spec(ROOT / "specs" / "relu_adam.yaml")
CNN = load_spec(ROOT / "specs" / "cnn.yaml")
XEON_FLAGS = "fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile"


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text("".join(f"processor\t: {i}\nmodel name\t: test\nflags\t\t: {flags}\n\n" for i in range(2)))
    return path


def _tiny(policy: str):
    return parse_spec(TINY_CNN.replace("POLICY", policy))


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Make "this machine" a CPU with the given flags and no GPU: ``machine("amx_bf16")``."""
    def make(flags: str):
        monkeypatch.setattr(precision, "CPUINFO", str(_cpuinfo(tmp_path, flags)))
        monkeypatch.setattr(precision, "nvidia_gpus", lambda: [])
    return make


# --- resolving auto -----------------------------------------------------------------------------

def test_cpuinfo_bf16_flags_are_read_and_a_missing_file_means_none(tmp_path):
    assert cpu_bf16_flags(_cpuinfo(tmp_path, XEON_FLAGS)) == ("avx512_bf16", "amx_bf16")
    assert cpu_bf16_flags(_cpuinfo(tmp_path, "fpu amx_bf16")) == ("amx_bf16",)
    assert cpu_bf16_flags(_cpuinfo(tmp_path, "fpu avx512f avx512_bf16x")) == ()
    assert cpu_bf16_flags(tmp_path / "missing") == ()


def test_auto_is_mixed_bfloat16_for_a_conv_model_on_a_bf16_cpu(tmp_path):
    for flags in (XEON_FLAGS, "fpu avx512_bf16", "fpu amx_bf16"):
        resolution = resolve_dtype_policy(CNN, cpuinfo=_cpuinfo(tmp_path, flags), gpus=[])
        assert resolution.policy == "mixed_bfloat16" and "bfloat16 instructions" in resolution.why


def test_auto_is_float32_without_bf16_instructions_or_without_cpuinfo(tmp_path):
    plain = resolve_dtype_policy(CNN, cpuinfo=_cpuinfo(tmp_path, "fpu avx2 avx512f"), gpus=[])
    assert plain.policy == "float32" and "no bfloat16 instructions" in plain.why
    assert resolve_dtype_policy(CNN, cpuinfo=tmp_path / "missing", gpus=[]).policy == "float32"


def test_auto_is_float32_for_a_model_without_convolutions_whatever_the_hardware(tmp_path):
    for gpus in ([], [(8, 6)]):
        resolution = resolve_dtype_policy(MLP, cpuinfo=_cpuinfo(tmp_path, XEON_FLAGS), gpus=gpus)
        assert resolution.policy == "float32" and "no Conv2D layer" in resolution.why


def test_auto_on_an_nvidia_gpu_is_mixed_float16_from_compute_capability_7(tmp_path):
    cpuinfo = _cpuinfo(tmp_path, XEON_FLAGS)
    assert resolve_dtype_policy(CNN, cpuinfo=cpuinfo, gpus=[(7, 0)]).policy == "mixed_float16"
    assert resolve_dtype_policy(CNN, cpuinfo=cpuinfo, gpus=[(8, 6)]).why.endswith("8.6, with tensor cores")
    old = resolve_dtype_policy(CNN, cpuinfo=cpuinfo, gpus=[(6, 1)])
    assert old.policy == "float32" and "6.1 is below 7.0" in old.why  # the GPU trains, not the bf16 CPU


def test_auto_with_cpu_devices_only_ignores_the_gpu(tmp_path):
    spec = load_spec(ROOT / "specs" / "cnn.yaml", ["distribute.strategy=mirrored",
                                                    "distribute.devices=[/cpu:0, /cpu:1]"])
    assert resolve_dtype_policy(spec, cpuinfo=_cpuinfo(tmp_path, XEON_FLAGS), gpus=[(8, 0)]).policy == \
        "mixed_bfloat16"


def test_a_written_policy_is_taken_as_written(tmp_path):
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        spec = replace(MLP, dtype_policy=policy)
        assert resolve_dtype_policy(spec, cpuinfo=tmp_path / "missing", gpus=[]).policy == policy


def test_default_is_auto_and_the_schema_refuses_other_names():
    assert MLP.dtype_policy == "auto" and MLP.resolved()["dtype_policy"] == "auto"
    assert parse_spec(TINY_CNN.replace("POLICY", "mixed_bfloat16")).dtype_policy == "mixed_bfloat16"
    problems = _errors("dtype_policy: bfloat16\n")
    assert [(p.line, p.column, p.path) for p in problems] == [(2, 15, "dtype_policy")]
    assert "mixed_bfloat16" in problems[0].message + problems[0].hint


def _errors(extra: str) -> list:
    """The problems of a small valid spec with ``extra`` lines after spec_version (line 2 on)."""
    from fmnist_spec import SpecError

    try:
        spec = parse_spec("spec_version: 1\n" + extra + "layers:\n  - {units: 10, activation: softmax, input_shape: [784]}\n"
                          "compile: {loss: sparse_categorical_crossentropy}\n")
    except SpecError as exc:
        return exc.problems
    return list(spec.warnings)


def test_mixed_float16_without_a_gpu_warns_at_train_time_only(tmp_path):
    warning = hardware_warning("mixed_float16", gpus=[])
    assert warning.startswith("dtype_policy mixed_float16 without a GPU") and "hint:" in warning
    assert hardware_warning("mixed_float16", gpus=[(7, 5)]) is None
    no_bf16 = _cpuinfo(tmp_path, "fpu avx2")
    assert "without bfloat16 instructions" in hardware_warning("mixed_bfloat16", cpuinfo=no_bf16, gpus=[])
    assert hardware_warning("mixed_bfloat16", cpuinfo=_cpuinfo(tmp_path, XEON_FLAGS), gpus=[]) is None
    assert hardware_warning("float32", gpus=[]) is None
    assert _errors("dtype_policy: mixed_float16\n") == []  # validate is machine-independent


# --- building ---------------------------------------------------------------------------------

def test_a_mixed_model_computes_in_16_bits_keeps_the_last_layer_float32_and_restores_the_policy():
    before = keras.config.dtype_policy().name
    for style in ("list", "add"):
        model = build_model(_tiny("mixed_bfloat16"), style)
        assert [layer.dtype_policy.name for layer in model.layers] == ["mixed_bfloat16"] * 3 + ["float32"]
        assert model.layers[0].compute_dtype == "bfloat16" and model.layers[0].variable_dtype == "float32"
        output = model(np.zeros((2, 28, 28, 1), np.float32))
        assert model.dtype_policy.name == "mixed_bfloat16" and keras.backend.standardize_dtype(output.dtype) == "float32"
        assert model_dtype_policy(model) == "mixed_bfloat16"
        assert keras.config.dtype_policy().name == before == "float32"  # no global state leaks
    plain = build_model(_tiny("float32"))
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    assert model_dtype_policy(plain) == "float32"


def test_the_global_policy_is_restored_when_building_fails(monkeypatch):
    import fmnist_spec.to_keras.builder as builder

    def broken(spec, policy):
        raise RuntimeError("layer construction failed")

    monkeypatch.setattr(builder, "make_layers", broken)
    with pytest.raises(RuntimeError):
        build_model(_tiny("mixed_float16"))
    assert keras.config.dtype_policy().name == "float32"


def test_auto_builds_what_this_machine_resolves(machine):
    machine("fpu amx_bf16")
    assert model_dtype_policy(build_model(_tiny("auto"))) == "mixed_bfloat16"
    assert model_dtype_policy(build_model(replace(MLP, name="m"))) == "float32"
    machine("fpu avx2")
    assert model_dtype_policy(build_model(_tiny("auto"))) == "float32"


def test_compile_under_mixed_float16_wraps_the_optimizer_once_keras_does_it():
    for optimizer in ("adam", "{type: SGD, learning_rate: 0.1}"):
        spec = parse_spec(TINY_CNN.replace("POLICY", "mixed_float16").replace("optimizer: adam",
                                                                               f"optimizer: {optimizer}"))
        model = build_model(spec)
        compile_model(model, spec)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert not isinstance(model.optimizer.inner_optimizer, keras.optimizers.LossScaleOptimizer)
    bf16 = build_model(_tiny("mixed_bfloat16"))
    compile_model(bf16, _tiny("mixed_bfloat16"))
    assert type(bf16.optimizer).__name__ == "Adam"  # bfloat16 has float32's range: no loss scaling


def test_model_dtype_policy_refuses_layers_that_mix_policies():
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(3, dtype="mixed_bfloat16"),
                              keras.layers.Dense(3, dtype="float32"), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="different or unknown dtype policies"):
        model_dtype_policy(model)


# --- render and codegen ---------------------------------------------------------------------------

def test_render_shows_the_setting_and_what_auto_gives_here(machine):
    from fmnist_spec.tools.render import render

    machine("fpu amx_bf16")
    line = next(x for x in render(ROOT / "specs" / "cnn.yaml").splitlines() if x.startswith("dtype_policy:"))
    assert line.startswith("dtype_policy: auto ") and "# default | auto gives mixed_bfloat16 on this machine's CPU" in line
    assert "on an NVIDIA GPU of compute capability >= 7.0: mixed_float16" in line
    machine("fpu avx2")
    assert "auto gives float32 on this machine's CPU (the CPU has no bfloat16" in render(ROOT / "specs" / "cnn.yaml")
    written = render(ROOT / "specs" / "cnn.yaml", ["dtype_policy=float32"])
    line = next(x for x in written.splitlines() if x.startswith("dtype_policy:"))
    assert line.startswith("dtype_policy: float32 ") and "auto gives" not in line
    mlp = render(ROOT / "specs" / "relu_adam.yaml")
    assert "auto gives float32 on this machine's CPU (the model has no Conv2D layer" in mlp and "NVIDIA" not in mlp


def test_render_and_codegen_of_a_conv_spec_do_not_import_tensorflow():
    code = ("import sys, io, contextlib; from fmnist_spec.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    status = [main(['render', 'specs/cnn.yaml']), main(['codegen', 'specs/cnn.yaml']),"
            " main(['codegen', 'specs/cnn.yaml', '--set', 'dtype_policy=mixed_bfloat16'])]\n"
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "[0, 0, 0] False False", result.stderr


# --- export -------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_round_trip_spec_model_export_spec_keeps_the_policy(policy, tmp_path):
    from fmnist_spec.tools.export import export_text

    spec = _tiny(policy)
    model = build_model(spec)
    compile_model(model, spec)
    model.save(tmp_path / "m.keras")
    text, notes = export_text(tmp_path / "m.keras")
    assert notes == [] and f"\ndtype_policy: {policy}\n" in text
    exported = parse_spec(text)
    assert exported.dtype_policy == policy and exported.optimizer.type == "Adam"
    assert _configs(build_model(exported)) == _configs(model)


def _configs(model) -> list:
    """Each layer's config without the name Keras picked."""
    return [{k: v for k, v in layer.get_config().items() if k != "name"} for layer in model.layers]


def test_export_of_a_float32_mlp_writes_no_policy_and_of_a_float32_cnn_writes_float32(tmp_path):
    from fmnist_spec.tools.export import export_text

    build_model(replace(MLP, dtype_policy="float32")).save(tmp_path / "mlp.keras")
    assert "dtype_policy" not in export_text(tmp_path / "mlp.keras")[0]  # auto gives float32 everywhere
    build_model(_tiny("float32")).save(tmp_path / "cnn.keras")
    assert "\ndtype_policy: float32\n" in export_text(tmp_path / "cnn.keras")[0]  # auto could give mixed


def test_export_names_a_layer_whose_policy_is_not_the_models(tmp_path):
    from fmnist_spec import SpecError
    from fmnist_spec.tools.export import export_text

    all_mixed = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(8, dtype="mixed_bfloat16"),
                                  keras.layers.Dense(10, activation="softmax", dtype="mixed_bfloat16")])
    all_mixed.save(tmp_path / "m.keras")
    with pytest.raises(SpecError) as err:
        export_text(tmp_path / "m.keras")
    assert err.value.path == "layers[1]" and "dtype=DTypePolicy(name='mixed_bfloat16')" in err.value.message
    mixed_up = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(8, dtype="mixed_bfloat16"),
                                 keras.layers.Dense(8, dtype="mixed_float16"), keras.layers.Dense(10)])
    mixed_up.save(tmp_path / "n.keras")
    with pytest.raises(SpecError) as err:
        export_text(tmp_path / "n.keras")
    assert err.value.path == "dtype_policy" and "dense" in err.value.message


# --- train, evaluate, resume ------------------------------------------------------------------------

def test_train_records_the_resolved_policy_and_the_summary_names_it(machine, tiny_data_dir, tmp_path, capsys):
    from fmnist_spec.cli import main

    machine("fpu amx_bf16")
    spec_file = tmp_path / "cnn.yaml"
    spec_file.write_text(TINY_CNN.replace("POLICY", "auto"))
    assert main(["train", str(spec_file), "--out", str(tmp_path / "run"), "--data-dir", str(tiny_data_dir)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dtype_policy"] == "mixed_bfloat16"
    assert metrics["threading"] == {"intra_op_parallelism_threads": 0, "inter_op_parallelism_threads": 0}
    assert yaml.safe_load((tmp_path / "run" / "spec.yaml").read_text())["dtype_policy"] == "auto"  # as written
    out = capsys.readouterr().out
    assert "2 epochs in" in out and out.split("2 epochs in")[1].splitlines()[0].endswith(
        ", dtype policy mixed_bfloat16")
    mlp = tmp_path / "mlp.yaml"
    mlp.write_text(TINY_CNN.replace("POLICY", "float32"))
    assert main(["train", str(mlp), "--out", str(tmp_path / "mlp"), "--data-dir", str(tiny_data_dir)]) == 0
    assert json.loads((tmp_path / "mlp" / "metrics.json").read_text())["dtype_policy"] == "float32"
    assert "dtype policy" not in capsys.readouterr().out


def test_train_warns_of_mixed_float16_without_a_gpu_and_runs_it(machine, tiny_data_dir, tmp_path, capsys):
    from fmnist_spec.cli import main
    from fmnist_spec.running.train import train
    from fmnist_spec.to_keras.precision import PrecisionWarning

    machine("fpu avx2")
    spec = replace(_tiny("mixed_float16"), epochs=1)
    with pytest.warns(PrecisionWarning, match="dtype_policy mixed_float16 without a GPU"):
        result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert result.metrics.status == "finished" and result.metrics.dtype_policy == "mixed_float16"
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    spec_file = tmp_path / "f16.yaml"
    spec_file.write_text(TINY_CNN.replace("POLICY", "mixed_float16"))
    assert main(["train", str(spec_file), "--out", str(tmp_path / "cli"), "--data-dir", str(tiny_data_dir)]) == 0
    err = capsys.readouterr().err
    assert f"{spec_file}: warning: dtype_policy mixed_float16 without a GPU: Keras runs it on the CPU" in err
    assert "UserWarning" not in err and "run_training(" not in err


def test_a_mixed_run_evaluates_from_model_keras_and_from_weights_under_the_recorded_policy(
        machine, tiny_data_dir, tmp_path, monkeypatch):
    import fmnist_spec.to_keras.builder as builder
    from fmnist_spec.running.train import train
    from fmnist_spec.tools.evaluate import evaluate

    machine("fpu amx_bf16")
    run = train(_tiny("auto"), out=tmp_path / "run", data_dir=tiny_data_dir).out_dir
    saved = evaluate(run, data_dir=tiny_data_dir)
    assert saved.loss == pytest.approx(json.loads((run / "metrics.json").read_text())["test"]["loss"], abs=1e-6)
    machine("fpu avx2")  # here, auto would now give float32: the run's metrics.json decides
    built = []
    real_build = builder.build_model
    monkeypatch.setattr(builder, "build_model", lambda spec, style=None: built.append(real_build(spec, style))
                        or built[-1])
    rebuilt = evaluate(run / "spec.yaml", weights=run / "model.weights.h5", data_dir=tiny_data_dir)
    assert model_dtype_policy(built[0]) == "mixed_bfloat16"
    assert rebuilt.loss == saved.loss and rebuilt.accuracy == saved.accuracy


def _interrupt_after_first_epoch(monkeypatch):
    import fmnist_spec.running.fit as fit_module

    real_callbacks = fit_module.callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "callbacks", lambda *a, **k: real_callbacks(*a, **k) + [Interrupt()])
    return lambda: monkeypatch.setattr(fit_module, "callbacks", real_callbacks)


def test_resume_continues_a_mixed_bfloat16_run_under_its_recorded_policy(machine, tiny_data_dir, tmp_path,
                                                                         monkeypatch):
    from fmnist_spec.running.train import TrainingInterrupted, train

    machine("fpu amx_bf16")
    spec = _tiny("auto")
    restore = _interrupt_after_first_epoch(monkeypatch)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(spec, out=tmp_path / "run", data_dir=tiny_data_dir)
    assert stopped.value.resumable and stopped.value.epochs_finished == 1
    assert json.loads((tmp_path / ".run.partial" / "metrics.json").read_text())["dtype_policy"] == "mixed_bfloat16"
    restore()
    machine("fpu avx2")  # resumed elsewhere: the interrupted run's policy goes on
    result = train(spec, out=tmp_path / "run", data_dir=tiny_data_dir, resume=True)
    assert result.metrics.status == "finished" and result.metrics.resumed_from_epoch == 1
    assert result.metrics.dtype_policy == "mixed_bfloat16" and model_dtype_policy(result.model) == "mixed_bfloat16"
    assert {len(v) for v in result.history.values()} == {2}


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_same_seed_gives_the_same_history_under_each_policy(policy, machine, tiny_data_dir, tmp_path):
    from fmnist_spec.running.train import train

    machine(XEON_FLAGS)
    spec = _tiny(policy)
    one = train(spec, out=tmp_path / "a", data_dir=tiny_data_dir)
    two = train(spec, out=tmp_path / "b", data_dir=tiny_data_dir)
    assert one.metrics.dtype_policy == policy
    assert one.history == two.history and one.metrics.test == two.metrics.test
    other = "float32" if policy != "float32" else "mixed_bfloat16"
    assert train(_tiny(other), out=tmp_path / "c", data_dir=tiny_data_dir).history != one.history
