"""Where a run trains (fmnist_spec.running.device): metrics.json's ``device``, the summary line,
and the warning when an NVIDIA GPU goes unused. The probe is replaced, so no GPU is needed."""

import json
import os
import stat

import pytest

from fmnist_spec import parse_spec, train
from fmnist_spec.running.device import SystemProbe, cpu_facts, describe, device_text, gpu_warning
from fmnist_spec.running.metrics import Metrics

CPUINFO = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
           "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\n"
           "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n")
RTX = {"device": "/physical_device:GPU:0", "name": "NVIDIA GeForce RTX 3090", "compute_capability": "8.6"}
A100 = {"device": "/physical_device:GPU:1", "name": "NVIDIA A100-SXM4-40GB", "compute_capability": "8.0"}


class FakeProbe:
    """A machine as a test describes it: the OS's NVIDIA GPUs, TensorFlow's GPUs, its build, the CPU."""

    def __init__(self, nvidia=(), gpus=(), cuda=False, cpu="Intel(R) Xeon(R) Processor", cores=2, bf16=()):
        self.nvidia, self.gpus, self.cuda = list(nvidia), list(gpus), cuda
        self.cpu_facts = {"name": cpu, "cores": cores, "bf16_instructions": list(bf16)}

    def nvidia_gpus(self):
        return self.nvidia

    def tensorflow_gpus(self):
        return self.gpus

    def built_with_cuda(self):
        return self.cuda

    def cpu(self):
        return self.cpu_facts


SPEC = ("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
        "  - {units: 10, activation: softmax}\n"
        "compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "fit: {epochs: 1, batch_size: 8, verbose: 0}\n")


def test_cpu_facts_read_the_model_name_and_bf16_flags_of_cpuinfo():
    facts = cpu_facts(CPUINFO)
    assert facts == {"name": "Intel(R) Xeon(R) Platinum 8488C", "cores": os.cpu_count(),
                     "bf16_instructions": ["avx512_bf16", "amx_bf16"]}
    assert cpu_facts("processor\t: 0\nflags\t: sse2 avx2\n")["bf16_instructions"] == []


def test_system_probe_reads_the_nvidia_driver_under_proc(tmp_path):
    board = tmp_path / "driver" / "nvidia" / "gpus" / "0000:01:00.0"
    board.mkdir(parents=True)
    (board / "information").write_text("Model: \t\t NVIDIA GeForce RTX 3090\nIRQ:   \t\t 130\n")
    assert SystemProbe(proc=tmp_path).nvidia_gpus() == ["NVIDIA GeForce RTX 3090"]


def test_system_probe_asks_nvidia_smi_when_proc_has_no_driver(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0123abcd)'\n"
                   "echo 'GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-4567ef00)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    assert SystemProbe(proc=tmp_path, nvidia_smi=str(smi)).nvidia_gpus() == ["NVIDIA A100-SXM4-40GB"] * 2
    assert SystemProbe(proc=tmp_path, nvidia_smi=str(tmp_path / "missing")).nvidia_gpus() == []


def test_system_probe_agrees_with_tensorflow_on_this_machine():
    import tensorflow as tf

    probe = SystemProbe()
    device = describe(probe)
    assert device["type"] == ("GPU" if tf.config.list_physical_devices("GPU") else "CPU")
    assert device["built_with_cuda"] is tf.test.is_built_with_cuda()
    assert device["cores"] == os.cpu_count() and device["name"]


def test_a_cpu_run_names_the_cpu_its_cores_and_bf16_instructions():
    device = describe(FakeProbe(bf16=["amx_bf16"]), {"strategy": "default"})
    assert device == {"type": "CPU", "name": "Intel(R) Xeon(R) Processor", "count": 1,
                      "devices": ["/device:CPU:0"], "compute_capability": None, "cores": 2,
                      "bf16_instructions": ["amx_bf16"], "built_with_cuda": False, "nvidia_gpus": [],
                      "warning": None}
    assert device_text(device) == "CPU: Intel(R) Xeon(R) Processor, 2 cores"


def test_a_gpu_run_names_the_first_gpu_and_its_compute_capability():
    probe = FakeProbe(nvidia=[RTX["name"], A100["name"]], gpus=[RTX, A100], cuda=True)
    device = describe(probe, {"strategy": "default"})
    assert (device["type"], device["name"], device["count"]) == ("GPU", "NVIDIA GeForce RTX 3090", 1)
    assert device["compute_capability"] == "8.6" and device["devices"] == ["/physical_device:GPU:0"]
    assert device_text(device) == "GPU: NVIDIA GeForce RTX 3090 (compute capability 8.6)"


def test_a_mirrored_run_reports_the_devices_it_used():
    probe = FakeProbe(gpus=[RTX, A100], cuda=True)
    devices = ["/job:localhost/replica:0/task:0/device:GPU:0", "/job:localhost/replica:0/task:0/device:GPU:1"]
    device = describe(probe, {"strategy": "mirrored", "devices": devices})
    assert (device["type"], device["count"], device["devices"]) == ("GPU", 2, devices)
    assert device_text(device).startswith("2 GPUs: NVIDIA GeForce RTX 3090")
    one = describe(probe, {"strategy": "mirrored", "devices": devices[1:]})
    assert (one["name"], one["compute_capability"]) == ("NVIDIA A100-SXM4-40GB", "8.0")
    cpus = ["/job:localhost/replica:0/task:0/device:CPU:0", "/job:localhost/replica:0/task:0/device:CPU:1"]
    on_cpu = describe(FakeProbe(), {"strategy": "mirrored", "devices": cpus})
    assert (on_cpu["type"], on_cpu["count"]) == ("CPU", 2)
    assert device_text(on_cpu) == "CPU: Intel(R) Xeon(R) Processor, 2 cores, 2 replicas"
    workers = describe(probe, {"strategy": "multi_worker_mirrored"})
    assert (workers["type"], workers["count"]) == ("GPU", 2)


def test_an_nvidia_gpu_under_the_cpu_build_is_a_warning_with_the_fix():
    warning = gpu_warning(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], cuda=False))
    assert warning == ("this machine has an NVIDIA GPU (NVIDIA GeForce RTX 3090) but TensorFlow here is its "
                       "CPU build (tensorflow-cpu); training runs on the CPU")


def test_an_nvidia_gpu_the_cuda_build_cannot_use_is_a_warning():
    warning = gpu_warning(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], cuda=True))
    assert "TensorFlow's CUDA build found no usable GPU (NVIDIA's CUDA libraries are missing" in warning


def test_no_warning_without_an_nvidia_gpu_with_a_used_one_or_hidden_on_purpose(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_warning(FakeProbe()) is None
    assert gpu_warning(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], gpus=[RTX], cuda=True)) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert gpu_warning(FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], cuda=True)) is None


def test_train_warns_about_an_unused_gpu_and_records_it(tiny_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    probe = FakeProbe(nvidia=["NVIDIA GeForce RTX 3090"], cuda=False)
    result = train(parse_spec(SPEC), out=tmp_path / "run", data_dir=tiny_data_dir, probe=probe)
    err = capsys.readouterr().err
    assert ("warning: this machine has an NVIDIA GPU (NVIDIA GeForce RTX 3090) but TensorFlow here is its "
            "CPU build (tensorflow-cpu); training runs on the CPU\n"
            "  hint: bash scripts/setup.sh --gpu\n") in err
    device = json.loads((tmp_path / "run" / "metrics.json").read_text())["device"]
    assert device == result.metrics.device
    assert device["type"] == "CPU" and device["warning"].startswith("this machine has an NVIDIA GPU")
    assert device["nvidia_gpus"] == ["NVIDIA GeForce RTX 3090"]


def test_train_summary_line_says_where_it_trained(tiny_data_dir, tmp_path, capsys):
    from fmnist_spec.cli import main

    spec = tmp_path / "small.yaml"
    spec.write_text(SPEC)
    assert main(["train", str(spec), "--out", str(tmp_path / "run"), "--data-dir", str(tiny_data_dir)]) == 0
    out = capsys.readouterr().out
    device = json.loads((tmp_path / "run" / "metrics.json").read_text())["device"]
    summary = next(line for line in out.splitlines() if " epoch in " in line)
    assert summary.endswith(f" on {device_text(device)}")
    if device["type"] == "CPU":
        assert f" on CPU: {device['name']}, {os.cpu_count()} cores" in summary


def test_run_folders_of_earlier_versions_read_without_device():
    old = {"status": "finished", "epochs": 1, "train": {}, "samples": {}, "distribute": {}}
    assert Metrics.from_dict(old).device == {}
    assert device_text({}) == ""


@pytest.mark.parametrize("cores, text", [(1, "CPU: Arm, 1 core"), (64, "CPU: Arm, 64 cores")])
def test_core_counts_read_as_english(cores, text):
    assert device_text(describe(FakeProbe(cpu="Arm", cores=cores))) == text
