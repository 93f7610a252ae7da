"""tf.distribute: the distribute section, the cluster, the rendezvous, and real
runs under MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy
(2 worker processes on 127.0.0.1).

The runs start `python -m fmnist_spec train` in subprocesses: logical CPU
devices can only be made before TensorFlow initialises, and each worker is a
process. Every subprocess has a timeout and is killed in a `finally` block.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from fmnist_spec.running.run_folder import RunFolder
from conftest import ROOT

from fmnist_spec import parse_spec
from fmnist_spec.cli import main
from fmnist_spec.running.distributed.cluster import (
    Cluster,
    DistributeError,
    cluster_from_args,
    cluster_from_env,
    parse_workers,
    rendezvous,
)

SPEC = """\
spec_version: 1
name: 패션 MNIST 모델
seed: 1
layers:
  - {{type: Flatten, input_shape: [28, 28]}}
  - {{units: 64, activation: relu}}
  - {{units: 10, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
fit: {{epochs: 1, batch_size: 32, verbose: 0}}
data: {{train_samples: {samples}, validation: {{test_size: 0.2, random_state: 42}}}}
distribute: {{strategy: {strategy}{extra}}}
"""


def spec_file(tmp_path, samples=4000, strategy="default", extra=""):
    path = tmp_path / f"{strategy}.yaml"
    path.write_text(SPEC.format(samples=samples, strategy=strategy, extra=extra), encoding="utf-8")
    return path


def free_ports(n):
    """n distinct ports on 127.0.0.1 nobody listens on right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start(args, log_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with open(log_path, "w", encoding="utf-8") as log:
        return subprocess.Popen([sys.executable, "-m", "fmnist_spec", *map(str, args)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def start_workers(processes, spec, workers, out, tmp_path, timeout):
    """Start worker 0 and worker 1 of `workers`, appending each to `processes` as it starts
    (so the caller's `finally: finish(processes, ...)` ends whatever did start)."""
    for i in (0, 1):
        processes.append(start(["train", spec, "--workers", workers, "--worker-index", i,
                                "--timeout", timeout, "--out", out], tmp_path / f"worker{i}.out"))


def finish(processes, timeout):
    """Wait for every process (at most `timeout` seconds in all); kill what is left."""
    deadline = time.monotonic() + timeout
    try:
        for p in processes:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    return [p.returncode for p in processes]


# --- the spec section ------------------------------------------------------------------------


def test_distribute_section_defaults_and_resolves():
    spec = parse_spec(SPEC.format(samples=100, strategy="mirrored", extra=", devices: [/cpu:0, /cpu:1]"))
    assert spec.distribute.strategy == "mirrored" and spec.distribute.devices == ("/cpu:0", "/cpu:1")
    assert spec.distribute.per_replica_batch_size is None and spec.distribute.timeout_seconds == 120
    resolved = spec.resolved()["distribute"]
    assert resolved == {"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"],
                        "per_replica_batch_size": None, "timeout_seconds": 120,
                        "workers": None, "worker_index": None}
    plain = parse_spec("spec_version: 1\nlayers:\n  - {type: Flatten, input_shape: [28, 28]}\n"
                       "  - {units: 10, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n")
    assert plain.distribute.strategy == "default"


def test_global_batch_size_follows_per_replica_batch_size():
    from fmnist_spec.running.distributed.strategy import global_batch_size

    spec = parse_spec(SPEC.format(samples=100, strategy="mirrored", extra=", per_replica_batch_size: 16"))
    assert global_batch_size(spec.distribute, spec.batch_size, replicas=2) == 32
    spec = parse_spec(SPEC.format(samples=100, strategy="mirrored", extra=""))
    assert global_batch_size(spec.distribute, spec.batch_size, replicas=2) == 32


# --- the cluster -------------------------------------------------------------------------------


def test_workers_are_parsed_and_worker_0_is_the_chief():
    cluster = cluster_from_args("127.0.0.1:2001, 127.0.0.1:2002", 1)
    assert cluster.workers == ("127.0.0.1:2001", "127.0.0.1:2002") and not cluster.is_chief
    assert cluster.name == "worker-1" and cluster.peers() == [("worker-0", "127.0.0.1:2001")]
    assert cluster.tf_config() == {"cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]},
                                   "task": {"type": "worker", "index": 1}}
    assert cluster_from_args("127.0.0.1:2001,127.0.0.1:2002", 0).is_chief


@pytest.mark.parametrize("text, index, message", [
    ("127.0.0.1", 0, "is not host:port"),
    ("127.0.0.1:99999", 0, "is not host:port"),
    ("127.0.0.1:1,127.0.0.1:1", 0, "appears twice"),
    ("127.0.0.1:1,127.0.0.1:2", 2, "expected 0..1"),
])
def test_bad_workers_are_refused(text, index, message):
    with pytest.raises(ValueError, match=message):
        cluster_from_args(text, index)


def test_tf_config_is_read_with_a_chief_task():
    config = {"cluster": {"chief": ["127.0.0.1:3000"], "worker": ["127.0.0.1:3001"]},
              "task": {"type": "chief", "index": 0}}
    cluster = cluster_from_env({"TF_CONFIG": json.dumps(config)})
    assert cluster.is_chief and cluster.name == "chief-0" and cluster.address == "127.0.0.1:3000"
    assert cluster.tf_config() == config
    assert cluster_from_env({}) is None
    with pytest.raises(ValueError, match="not a TensorFlow cluster description"):
        cluster_from_env({"TF_CONFIG": "{not json"})
    assert parse_workers("a.example:1") == ("a.example:1",)


def test_rendezvous_of_two_workers_meets_in_both():
    ports = free_ports(2)
    workers = ",".join(f"127.0.0.1:{p}" for p in ports)
    results = {}

    def worker(i):
        try:
            results[i] = rendezvous(cluster_from_args(workers, i), timeout=20)
        except DistributeError as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(isinstance(results.get(i), float) and results[i] < 20 for i in (0, 1)), results


def test_rendezvous_with_a_silent_peer_fails_within_the_timeout():
    ports = free_ports(2)
    cluster = Cluster((f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"), 0)
    start_time = time.monotonic()
    with pytest.raises(DistributeError) as err:
        rendezvous(cluster, timeout=1.5)
    assert 1.5 <= time.monotonic() - start_time < 10
    assert f"worker-1 at 127.0.0.1:{ports[1]}: nothing listens there" in str(err.value)
    assert "did not form within 1.5 s" in str(err.value)


def test_rendezvous_does_not_count_a_peer_that_gave_up_before_the_answer():
    # The peer's side is played here: it answers every hello with "ok" on its own port, so
    # worker-0 reaches it; but its one hello to worker-0 is abandoned before the answer (as a
    # peer whose wait timed out). worker-0 must not count that hello and must keep waiting.
    from fmnist_spec.running.distributed.cluster import _token

    ports = free_ports(2)
    cluster = cluster_from_args(f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", 0)
    token = _token(cluster)
    peer = socket.create_server(("127.0.0.1", ports[1]))
    stop = threading.Event()

    def answer_hellos():
        peer.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = peer.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(256)
                conn.sendall(b"ok\n")
                conn.recv(16)

    def abandoned_hello():
        while True:
            try:
                with socket.create_connection(("127.0.0.1", ports[0]), timeout=1) as conn:
                    conn.sendall(b"fmnist-spec " + token + b" worker-1\n")
                    return  # closed without reading the answer or acknowledging it
            except OSError:
                time.sleep(0.05)

    helpers = [threading.Thread(target=answer_hellos), threading.Thread(target=abandoned_hello)]
    for helper in helpers:
        helper.start()
    try:
        with pytest.raises(DistributeError) as err:
            rendezvous(cluster, timeout=2)
    finally:
        stop.set()
        for helper in helpers:
            helper.join(timeout=5)
        peer.close()
    assert f"worker-1 at 127.0.0.1:{ports[1]}: it has not reached this worker" in str(err.value)


def test_rendezvous_tells_workers_of_another_cluster_apart():
    ports = free_ports(3)
    mine = cluster_from_args(f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", 0)
    theirs = cluster_from_args(f"127.0.0.1:{ports[0]},127.0.0.1:{ports[1]},127.0.0.1:{ports[2]}", 1)
    other = threading.Thread(target=lambda: pytest.raises(DistributeError, rendezvous, theirs, 3))
    other.start()
    try:
        with pytest.raises(DistributeError, match="different cluster"):
            rendezvous(mine, timeout=10)
    finally:
        other.join(timeout=10)


def test_devices_that_cannot_be_made_are_a_clear_error():
    import tensorflow as tf

    from fmnist_spec.running.distributed.strategy import make_strategy
    from fmnist_spec.language.spec import DistributeSpec

    tf.constant(1.0)  # TensorFlow has initialised its devices in this process
    with pytest.raises(DistributeError, match="needs 6 CPU devices but TensorFlow has already initialised"):
        make_strategy(DistributeSpec("mirrored", ("/cpu:0", "/cpu:5")))
    with pytest.raises(DistributeError, match=r"/gpu:0 not found; this machine has .*/cpu:0"):
        make_strategy(DistributeSpec("mirrored", ("/gpu:0",)))


def test_watchdog_ends_a_process_that_makes_no_progress():
    code = ("import sys, time\n"
            "from fmnist_spec.running.distributed.strategy import Watchdog\n"
            "def expire(phase, waited): print(f'error: no progress for {waited:.1f} s while {phase}', flush=True)\n"
            "dog = Watchdog(0.5, expire, 'step 1').start()\n"
            "for i in range(3): time.sleep(0.2); dog.beat(f'after step {i + 1}')\n"
            "time.sleep(30)\n"
            "print('not stopped')\n")
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert "error: no progress for" in result.stdout and "while after step 3" in result.stdout
    assert "not stopped" not in result.stdout and time.monotonic() - began < 20


# --- command-line arguments (no TensorFlow reached) --------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--workers", "127.0.0.1:1,127.0.0.1:2"], "go together"),
    (["--worker-index", "0"], "go together"),
    (["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "5"], "expected 0..1"),
    (["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "0", "--distribute", "mirrored"],
     "--distribute is mirrored"),
])
def test_bad_cluster_arguments_exit_2(tmp_path, capsys, args, message):
    assert main(["train", str(spec_file(tmp_path)), *args]) == 2
    assert message in capsys.readouterr().err


def test_malformed_tf_config_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": 1}')
    assert main(["train", str(spec_file(tmp_path, strategy="multi_worker_mirrored"))]) == 2
    assert "TF_CONFIG is not a TensorFlow cluster description" in capsys.readouterr().err


# --- real runs ----------------------------------------------------------------------------------


@pytest.mark.distributed
def test_mirrored_on_two_logical_cpus_matches_single_device(tmp_path):
    spec = spec_file(tmp_path, samples=12000, strategy="mirrored", extra=", devices: [/cpu:0, /cpu:1]")
    runs = {}
    for strategy in ("default", "mirrored"):
        out = tmp_path / strategy
        process = start(["train", spec, "--distribute", strategy, "--out", out], tmp_path / f"{strategy}.out")
        assert finish([process], timeout=400) == [0], (tmp_path / f"{strategy}.out").read_text()
        runs[strategy] = json.loads((out / "metrics.json").read_text())
    mirrored, single = runs["mirrored"], runs["default"]
    assert mirrored["distribute"]["replicas"] == 2
    assert [d.rsplit("/", 1)[1] for d in mirrored["distribute"]["devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert single["distribute"] == {"strategy": "default", "replicas": 1, "workers": 1, "global_batch_size": 32}
    # metrics.json's device names the devices used (fmnist_spec.running.device)
    assert (mirrored["device"]["type"], mirrored["device"]["count"]) == ("CPU", 2)
    assert mirrored["device"]["devices"] == mirrored["distribute"]["devices"] and single["device"]["count"] == 1
    assert mirrored["samples"] == single["samples"] == {"train": 9600, "validation": 2400, "test": 10000}
    accuracy = mirrored["validation"]["accuracy"], single["validation"]["accuracy"]
    print(f"validation accuracy: mirrored {accuracy[0]:.4f}, single device {accuracy[1]:.4f}")
    assert min(accuracy) > 0.70  # trained, not chance (0.10)
    assert abs(accuracy[0] - accuracy[1]) <= 0.02
    history = json.loads((tmp_path / "mirrored" / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # the same run folder whatever the strategy
    files = {strategy: sorted(p.name for p in (tmp_path / strategy).iterdir()) for strategy in runs}
    assert files["mirrored"] == files["default"] == sorted(RunFolder.FILES)
    assert mirrored["status"] == "finished" and mirrored["epochs_finished"] == 1


@pytest.mark.distributed
def test_two_workers_on_loopback_train_and_the_chiefs_model_loads(tmp_path, real_data):
    import keras

    from fmnist_spec import load_model, load_spec
    from fmnist_spec.running.train import prepare

    spec = spec_file(tmp_path, samples=4000, strategy="multi_worker_mirrored")
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    out = tmp_path / "run"
    processes = []
    try:
        start_workers(processes, spec, workers, out, tmp_path, timeout=120)
        codes = finish(processes, timeout=420)
    finally:
        finish(processes, timeout=1)
    outputs = [(tmp_path / f"worker{i}.out").read_text() for i in (0, 1)]
    assert codes == [0, 0], outputs
    assert sorted(p.name for p in out.iterdir()) == sorted(RunFolder.FILES + ("worker-0.log", "worker-1.log"))
    for i in (0, 1):
        log = (out / f"worker-{i}.log").read_text("utf-8")
        assert "cluster formed: 2 replica(s) in sync" in log and "Epoch 1/1" in log and "trained:" in log
    assert "the chief writes the run folder" in outputs[1]
    metrics = json.loads((out / "metrics.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert metrics["distribute"] == {"strategy": "multi_worker_mirrored", "replicas": 2, "workers": 2,
                                     "global_batch_size": 32}
    assert metrics["device"]["type"] == "CPU" and metrics["device"]["count"] == 1
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 1
    print(f"2-worker validation accuracy {metrics['validation']['accuracy']:.4f}")
    assert metrics["validation"]["accuracy"] > 0.65
    model = load_model(out / "model.keras")
    assert isinstance(model, keras.Sequential) and model.name == "패션 MNIST 모델"
    splits = prepare(load_spec(spec), real_data)
    again = model.evaluate(splits.x_val, splits.y_val, verbose=0, return_dict=True)
    # the strategy step's own figures are what Keras's evaluate gives for the saved model
    assert again["accuracy"] == pytest.approx(metrics["validation"]["accuracy"], abs=1e-6)
    assert again["loss"] == pytest.approx(metrics["validation"]["loss"], rel=1e-4)
    assert history["val_accuracy"][0] == pytest.approx(metrics["validation"]["accuracy"], abs=1e-6)
    assert np.argmax(model.predict(splits.x_val[:5], verbose=0), axis=1).shape == (5,)


@pytest.mark.distributed
@pytest.mark.parametrize("index", [0, 1], ids=["chief-waits-for-worker", "worker-waits-for-chief"])
def test_worker_whose_peer_never_listens_fails_within_the_timeout(tmp_path, index):
    spec = spec_file(tmp_path, samples=100, strategy="multi_worker_mirrored")
    ports = free_ports(2)
    workers = ",".join(f"127.0.0.1:{p}" for p in ports)
    began = time.monotonic()
    process = start(["train", spec, "--workers", workers, "--worker-index", index, "--timeout", 5,
                     "--out", tmp_path / "run"], tmp_path / "worker.out")
    try:
        code = finish([process], timeout=120)
    finally:
        finish([process], timeout=1)
    elapsed = time.monotonic() - began
    output = (tmp_path / "worker.out").read_text()
    assert code == [1], output
    assert elapsed < 5 + 60, elapsed  # the timeout plus the start-up (imports, data)
    peer = 1 - index
    assert "the cluster did not form within 5 s" in output
    assert f"worker-{peer} at 127.0.0.1:{ports[peer]}: nothing listens there" in output
    assert "Traceback" not in output
    assert "did not form" in (tmp_path / "run" / f"worker-{index}.log").read_text("utf-8")
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.distributed
def test_worker_killed_during_training_stops_the_other_with_an_error(tmp_path):
    spec = spec_file(tmp_path, samples=30000, strategy="multi_worker_mirrored")
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    out = tmp_path / "run"
    processes = []
    try:
        start_workers(processes, spec, workers, out, tmp_path, timeout=20)
        log = out / "worker-1.log"
        deadline = time.monotonic() + 180
        while not (log.exists() and "cluster formed" in log.read_text("utf-8")):
            assert time.monotonic() < deadline and processes[1].poll() is None, "worker 1 did not start"
            time.sleep(0.5)
        time.sleep(3)  # a few steps into training
        processes[1].kill()
        killed = time.monotonic()
        codes = finish(processes[:1], timeout=20 + 60)
        elapsed = time.monotonic() - killed
    finally:
        finish(processes, timeout=1)
    output = (tmp_path / "worker0.out").read_text()
    assert codes == [1], output
    assert elapsed < 20 + 30, elapsed
    assert "error: worker-0 failed while" in output or "error: worker-0 (127.0.0.1" in output  # or the watchdog's
    assert "another worker probably stopped" in output or "made no progress" in output
    assert "Traceback" not in output
    assert not (out / "model.keras").exists()
