"""The state of each demo family while the background trainer works (`RUNS/status.json`), for the pages.

The background trainer (`vras_keras.demo.background`) writes one JSON file, atomically, whenever a family
changes state or makes progress; the pages read it (cheap: no TensorFlow). States of a family:

| state       | fields                                                                                  |
|-------------|-----------------------------------------------------------------------------------------|
| `queued`    | `position` (1 = next)                                                                   |
| `training`  | `epoch` (1-based), `epochs`, `fraction` (0..1 of the whole run), `eta_s`, `step`/`steps` |
| `exporting` | `since` (unix time), `expected_s` (mean of this run's earlier exports), `step` (evaluation)  |
| `ready`     | `export` (the version folder), `tflite` (`pending` / `done` / `failed: reason`); classification: |
|             | `landscape` (`{done, total, eta_s}` while its loss landscape is computed, then `done`)     |
| `failed`    | `reason` (one line)                                                                      |

The file also holds the trainer's `pid`; a family left `training`/`exporting` by a trainer that is no
longer alive reads as `failed` ("the background trainer stopped"), so a page never waits forever.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

STATUS_FILE = "status.json"
LOG_FILE = "background.log"
STATES = ("queued", "training", "exporting", "ready", "failed")


def status_path(runs_dir) -> Path:
    return Path(runs_dir) / STATUS_FILE


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    try:  # a zombie (exited child not yet reaped) counts as stopped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class StatusBoard:
    """Writer of `RUNS/status.json` (one per background trainer process)."""

    def __init__(self, runs_dir, tasks, *, pid: int | None = None):
        self.path = status_path(runs_dir)
        self.data = {"pid": os.getpid() if pid is None else pid, "started": time.time(), "updated": time.time(),
                     "order": list(tasks), "families": {}}
        for i, task in enumerate(tasks, 1):
            self.data["families"][task] = {"state": "queued", "position": i}
        self.write()

    def write(self) -> None:
        self.data["updated"] = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)

    def update(self, task: str, state: str | None = None, **fields) -> None:
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {STATES}, received {state!r}")
        entry = self.data["families"].setdefault(task, {})
        if state is not None and state != entry.get("state"):
            entry.clear()
            entry["state"] = state
            entry["since"] = time.time()
        entry.update(fields)
        if state is not None and state != "queued":  # the others move up the queue
            queued = [t for t in self.data["order"] if self.data["families"].get(t, {}).get("state") == "queued"]
            for i, t in enumerate(queued, 1):
                self.data["families"][t]["position"] = i
        self.write()


def read_status(runs_dir) -> dict:
    """The status file (`{"pid", "alive", "families": {task: {...}}}`); `{}` when there is none or it is
    unreadable. Families a dead trainer left in progress read as `failed`."""
    try:
        data = json.loads(status_path(runs_dir).read_text())
        families = data["families"]
        if not isinstance(families, dict):
            return {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    data["alive"] = _alive(data.get("pid"))
    if not data["alive"]:
        log = Path(runs_dir) / LOG_FILE
        for entry in families.values():
            if isinstance(entry, dict) and entry.get("state") in ("queued", "training", "exporting"):
                entry.update(state="failed", reason=f"the background trainer stopped before this model was ready "
                                                    f"(see {log}); `make run` starts it again")
    return data


def trainer_alive(runs_dir) -> bool:
    return bool(read_status(runs_dir).get("alive"))


def format_seconds(seconds) -> str:
    seconds = max(0, int(round(float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def describe(entry: dict | None) -> str:
    """One line for a family's state (what the pages and the home page print)."""
    if not entry:
        return "not scheduled: no background training is running for it"
    state = entry.get("state")
    if state == "queued":
        position = entry.get("position")
        return "queued" + (" (next)" if position == 1 else f" ({position - 1} model(s) before it)" if position else "")
    if state == "training":
        text = f"training: epoch {entry.get('epoch', '?')} of {entry.get('epochs', '?')}"
        if entry.get("steps"):
            text += f", step {entry.get('step', 0)} of {entry['steps']}"
        if entry.get("eta_s") is not None:
            text += f", about {format_seconds(entry['eta_s'])} left"
        return text
    if state == "exporting":
        what = entry["step"] if isinstance(entry.get("step"), str) else "exporting the SavedModel"
        elapsed = time.time() - entry.get("since", time.time())
        expected = entry.get("expected_s") if what == "exporting the SavedModel" else None
        if isinstance(expected, (int, float)):
            left = expected - elapsed
            return f"{what} (for {format_seconds(elapsed)}; " + (
                f"about {format_seconds(left)} left, estimated from the earlier exports)" if left > 0
                else f"longer than the earlier exports' {format_seconds(expected)})")
        return f"{what} (for {format_seconds(elapsed)})"
    if state == "ready":
        tflite = entry.get("tflite")
        text = "ready" + (f" (TFLite: {tflite})" if tflite and tflite != "done" else "")
        return text + (f"; {describe_landscape(entry)}" if isinstance(entry.get("landscape"), dict) else "")
    if state == "failed":
        return f"failed: {entry.get('reason', 'unknown reason')}"
    return str(state)


def describe_landscape(entry: dict | None) -> str:
    """One line for the demo classifier's loss landscape in progress (`landscape` of its entry), or ""."""
    scan = (entry or {}).get("landscape")
    if not isinstance(scan, dict):
        return ""
    text = f"computing its loss landscape: point {scan.get('done', 0)} of {scan.get('total', '?')}"
    return text + (f", about {format_seconds(scan['eta_s'])} left" if scan.get("eta_s") is not None else "")


def progress_callback(board: StatusBoard, task: str, epochs: int, *, interval: float = 2.0):
    """A Keras callback reporting a family's training progress to `board` (at most every `interval`
    seconds within an epoch, always at epoch boundaries); Keras is imported here, not by this module."""
    import keras

    class _Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.monotonic()
            self.last = 0.0
            self.epoch = 0

        def _steps(self):
            return (self.params or {}).get("steps") or 0

        def _report(self, step: int, force: bool = False):
            now = time.monotonic()
            if not force and now - self.last < interval:
                return
            self.last = now
            steps = self._steps()
            done = (self.epoch + (step / steps if steps else 0.0)) / max(epochs, 1)
            elapsed = now - self.start
            eta = elapsed * (1 - done) / done if done > 0.01 else None
            board.update(task, "training", epoch=self.epoch + 1, epochs=epochs, step=step, steps=steps,
                         fraction=round(done, 4), eta_s=None if eta is None else round(eta, 1))

        def on_train_begin(self, logs=None):
            self.start = time.monotonic()
            self._report(0, force=True)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self._report(0, force=True)

        def on_train_batch_end(self, batch, logs=None):
            self._report(batch + 1)

        def on_epoch_end(self, epoch, logs=None):
            self.epoch = epoch + 1
            if self.epoch < epochs:
                self._report(0, force=True)

    return _Progress()
