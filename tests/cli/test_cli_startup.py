"""`vras --help` without TensorFlow, TF's start-up log lines hidden unless --verbose, and the progress line
that training prints outside a terminal."""

import io
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_help_imports_neither_tensorflow_nor_keras():
    code = ("import sys; from vras_keras.cli import build_parser; build_parser().format_help(); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_tensorflow_startup_lines_are_hidden_unless_verbose():
    clean = os.environ.copy()
    clean.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-m", "vras_keras.cli", "export", "--model", "no_such_model", "--name", "x"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**clean, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]], proc.stderr
    assert "no_such_model" in proc.stderr and "I0000" not in proc.stderr and "E0000" not in proc.stderr


def test_progress_line_has_rate_and_eta_every_interval():
    from vras_keras.training.callbacks import ProgressLine

    now = [0.0]
    out = io.StringIO()
    line = ProgressLine(epochs=2, steps_per_epoch=10, batch_size=32, interval=30.0, clock=lambda: now[0], stream=out)
    line.on_train_begin()
    line.on_epoch_begin(0)
    for step in range(10):
        now[0] += 10.0  # 0.1 steps/s
        line.on_train_batch_end(step, {"loss": 1.5})
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 30, 60 and 90 s
    assert lines[0] == ("epoch 1/2 step 3/10: 0.1 steps/s (3.2 images/s), loss 1.5, epoch ETA 1m10s, "
                        "run ETA 2m50s")
