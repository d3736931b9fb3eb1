"""`vras devices`: the devices and strategy a training run would use (fresh processes: logical devices and
TF_CONFIG must be in place before TensorFlow starts)."""

import json
import subprocess

from tests.fixtures.training import helper_command, subprocess_env


def _devices(*args, **env):
    proc = subprocess.run(helper_command("cli", "devices", *args), env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_devices_reports_mirrored_over_logical_cpus_and_precision():
    info = json.loads(_devices("--cpu-replicas", "2", "--json"))
    assert info["strategy"] == "mirrored"
    assert [d.rsplit("/", 1)[1] for d in info["replica_devices"]] == ["device:CPU:0", "device:CPU:1"]
    assert [d["kind"] for d in info["devices"]].count("GPU") == 0  # CUDA_VISIBLE_DEVICES="" in the tests
    assert set(info["precision"]) == {"fp16", "bf16"} and "CPU" in info["precision"]["fp16"]
    assert info["tensorflow"]["version"].startswith("2.")


def test_devices_reads_the_cluster_without_joining_it():
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    text = _devices(TF_CONFIG=json.dumps(cluster))  # auto + a 2-worker TF_CONFIG: multi_worker
    assert "Strategy: multi_worker (from auto)" in text
    assert "cluster of 2 workers 127.0.0.1:1, 127.0.0.1:2; this process is worker 1" in text
    assert "(no GPU visible to TensorFlow)" in text


def test_devices_bad_arguments_give_one_line(capsys):
    from vras_keras.cli import main

    assert main(["devices", "--cpu-replicas", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vras devices: error: --cpu-replicas: received 0; expected an integer >= 1"]
