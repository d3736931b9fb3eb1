"""Data parallelism and crash safety, each in fresh subprocesses (logical devices and clusters must be set
up before TensorFlow initialises): MirroredStrategy parity, two MultiWorkerMirroredStrategy workers,
SIGKILL mid-epoch then resume with the same command."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.fixtures.training import helper_command, subprocess_env, write_recipe


def _run(args, timeout, **env):
    proc = subprocess.run(helper_command(*args), env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_mirrored_two_cpu_replicas_match_one_device(tmp_path):
    out = _run(["parity", str(tmp_path)], timeout=180)
    result = json.loads(out.split("PARITY ", 1)[1].splitlines()[0])
    one, mirrored = result["one"], result["mirrored"]
    assert (one["replicas"], mirrored["replicas"]) == (1, 2)
    assert len(one["losses"]) == len(mirrored["losses"]) == 5
    # same global batch of 8 (2 x 4 per replica): same losses and weights up to float reordering
    np.testing.assert_allclose(mirrored["losses"], one["losses"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mirrored["weights"], one["weights"], rtol=1e-4, atol=1e-6)
    assert one["losses"][-1] < one["losses"][0]  # it did train


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@contextlib.contextmanager
def _reaped(*procs):
    """Kill whatever of `procs` still runs on the way out (a failed assertion leaves no process behind)."""
    try:
        yield
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _wait_for_hang_marker(proc, marker, seconds=180):
    """Wait until the training subprocess writes `marker` (VRAS_TEST_HANG_MARKER: mid second epoch)."""
    deadline = time.monotonic() + seconds
    while not marker.exists():
        assert proc.poll() is None, [text[-4000:] for text in proc.communicate() if text]
        assert time.monotonic() < deadline, "training never reached the second epoch"
        time.sleep(0.2)


def _two_workers(host, command, *, timeout):
    """Start `command(index)` as workers 0 and 1 of a 2-worker TF_CONFIG cluster on `host`, wait for both
    (killed after `timeout` s), assert both exited 0, return their outputs (stdout and stderr)."""
    cluster = {"worker": [f"{host}:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        env = subprocess_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(command(index), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    with _reaped(*procs):
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-4000:]
    return outputs


@pytest.mark.slow  # two TensorFlow processes forming a cluster: ~20 s of CPU
def test_two_multi_worker_processes_end_with_identical_weights(tmp_path):
    config = write_recipe(tmp_path / "mw.yaml", strategy="multi_worker", epochs=1, batch_per_replica=4,
                          data={"num_samples": 32, "val_samples": 8}, workdir=str(tmp_path / "run"))
    outputs = _two_workers("localhost", lambda index: helper_command(
        "worker", str(config), str(tmp_path / f"w{index}.npz")), timeout=240)
    banner = [line for line in outputs[0].splitlines() if line.startswith("vras train: ")]
    # (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy)
    assert "on 2 replica(s) [CollectiveAllReduceStrategy], global batch 8, 4 steps/epoch" in banner[0], banner
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 2
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    assert np.isfinite(w0["loss"]).all()
    # only the chief writes the run's records and checkpoints
    assert (tmp_path / "run" / "checkpoints" / "last.keras").exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs_completed"] == 1


def test_sigkill_mid_epoch_then_same_command_resumes_from_last_completed_epoch(tmp_path):
    workdir = tmp_path / "run"
    config = write_recipe(tmp_path / "crash.yaml", epochs=3, workdir=str(workdir))
    command = helper_command("cli", "train", "--config", str(config))
    env = subprocess_env(VRAS_TEST_EPOCH_LOG=str(tmp_path / "epochs.log"),
                         VRAS_TEST_HANG_MARKER=str(tmp_path / "hanging"))
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with _reaped(first):
        _wait_for_hang_marker(first, tmp_path / "hanging")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    metadata = json.loads((workdir / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1  # one epoch completed and backed up before the kill
    assert [line.split(",")[0] for line in (workdir / "history.csv").read_text().splitlines()] == ["epoch", "1"]
    ck = workdir / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["best.json", "best.keras", "last.keras"]  # no partial files

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "resuming from" in second.stdout and "after epoch 1" in second.stdout
    runs = {}
    for line in (tmp_path / "epochs.log").read_text().split("\n"):
        if line:
            pid, epoch = line.split()
            runs.setdefault(pid, []).append(int(epoch))
    assert list(runs.values()) == [[0, 1], [1, 2]]  # the restart began at the interrupted epoch, not at 0
    rows = (workdir / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "1", "2", "3"]  # each epoch once
    assert not (workdir / "backup").exists()
    assert json.loads((workdir / "summary.json").read_text())["epochs_completed"] == 3
    import keras

    keras.saving.load_model(ck / "last.keras")


def test_sigterm_stops_cleanly_keeps_the_backup_and_says_so(tmp_path):
    workdir = tmp_path / "run"
    config = write_recipe(tmp_path / "term.yaml", epochs=3, workdir=str(workdir))
    env = subprocess_env(VRAS_TEST_EPOCH_LOG=str(tmp_path / "epochs.log"),
                         VRAS_TEST_HANG_MARKER=str(tmp_path / "hanging"))
    proc = subprocess.Popen(helper_command("cli", "train", "--config", str(config)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _reaped(proc):
        _wait_for_hang_marker(proc, tmp_path / "hanging")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (proc.returncode, out[-3000:], err[-3000:])  # 128 + SIGTERM
    said = [line for line in (out + err).splitlines() if "SIGTERM" in line]
    assert said == [f"vras train: stopped by SIGTERM; epoch 1 is the last completed one, kept in "
                    f"{workdir / 'backup'}: rerun the same command to resume"], said
    assert "Traceback" not in err, err[-3000:]
    assert json.loads((workdir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    ck = workdir / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["best.json", "best.keras", "last.keras"]  # no partial files
    assert not (workdir / "summary.json").exists()  # the run did not pretend to finish


def test_sigterm_ends_a_process_blocked_inside_tensorflow(tmp_path):
    # The main thread waits in a TensorFlow kernel (as a collective op waiting for a worker that is gone):
    # Python cannot run the handler there, so the watchdog ends the process after the grace period.
    script = (
        "import sys, tensorflow as tf\n"
        "from vras_keras.training.signals import stop_on_sigterm\n"
        "queue = tf.queue.FIFOQueue(1, tf.float32)\n"
        "with stop_on_sigterm(on_blocked=lambda: 'vras train: stopped by SIGTERM; blocked', grace=1.0):\n"
        "    print('ready', flush=True)\n"
        "    queue.dequeue()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    with _reaped(proc):
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (proc.returncode, err[-3000:])
    assert "vras train: stopped by SIGTERM; blocked (the main thread was blocked for 1 s; ending the process)" in err


def test_two_workers_on_localhost_run_vras_train_to_the_end(tmp_path):
    # `vras train` itself on a 2-worker cluster on 127.0.0.1: both processes exit 0 (no heartbeat hang after
    # the first one finishes), report the same metrics, and the chief writes the run's artefacts.
    workdir = tmp_path / "run"
    config = write_recipe(tmp_path / "mw.yaml", strategy="multi_worker", epochs=2, batch_per_replica=4,
                          data={"num_samples": 16, "val_samples": 8}, workdir=str(workdir))
    outputs = _two_workers("127.0.0.1", lambda index: helper_command("cli", "train", "--config", str(config)),
                           timeout=300)
    epochs = [[line for line in out.splitlines() if " - loss: " in line] for out in outputs]
    assert len(epochs[0]) == 2
    metrics = [[line.split("step - ", 1)[1] for line in lines] for lines in epochs]  # drop the timings
    assert metrics[0] == metrics[1], epochs
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["epochs_completed"] == 2
    assert {"best_checkpoint", "last_checkpoint", "history_csv", "curves_png"} <= set(summary["artefacts"])
    assert "== vras train:" in outputs[0] and "== vras train:" not in outputs[1]  # only the chief reports
    assert not (workdir / "backup").exists() and not (workdir / "backup-worker1").exists()  # both finished
