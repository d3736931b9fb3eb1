"""Callbacks of every training run: crash-safe resume, atomic checkpoints, logs, curves, summary.

Workdir layout (`standard_callbacks(workdir)` + the trainer)::

    workdir/
      config.yaml          the resolved recipe            vras_meta.json  task, model id + args, labels, input
      backup/              BackupAndRestore state (deleted when the run finishes)
      checkpoints/best.keras, last.keras, best.json       (written atomically: temp file, then os.replace)
      history.csv          one row per completed epoch (rows of an epoch re-run after a crash are replaced)
      curves.png           loss / metric curves            logs/  TensorBoard event files
      summary.json         final metrics and artefact paths
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from vras_keras.training.config import CallbacksConfig


# ------------------------------------------------------------------------------------ atomic writes
def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


_TEMP_RE = re.compile(r"^\..+\.tmp-(\d+)(\.[^.]*)?$")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def remove_stale_temp_files(directory) -> list[Path]:
    """Delete the temporary files (`.NAME.tmp-PID.ext`) that a killed process left in `directory`.

    A file whose writer is still running (same host, live pid) is kept. Returns the removed paths.
    """
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        match = _TEMP_RE.match(path.name)
        if match and path.is_file() and not _process_alive(int(match.group(1))):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


@contextlib.contextmanager
def _replacing(path):
    """A temporary path beside `path` to write; once written it is synced to disk and moved onto `path`
    (`os.replace`), so `path` holds either its old or the complete new content; removed if writing raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` so that `path` is either the old or the complete new content."""
    with _replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_save_model(model, path) -> Path:
    """`model.save` to a temporary file beside `path`, then `os.replace` it onto `path`.

    A crash at any point leaves either the previous complete file or none under the final name; the
    temporary file is removed if saving raises.
    """
    with _replacing(path) as tmp:
        model.save(tmp)
    return Path(path)


class NonFiniteTrainingError(ValueError):
    """The loss (or the weights) of a run became NaN or infinite; nothing of that epoch was saved."""


def non_finite_weights(model) -> list[str]:
    """Names of the model's weights that hold NaN or infinite values."""

    bad = []
    for w in model.weights:
        value = keras.ops.convert_to_numpy(w.value if hasattr(w, "value") else w)
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            bad.append(w.path if hasattr(w, "path") else w.name)
    return bad


def _is_better(value, best, mode):
    if best is None:
        return True
    return value < best if mode == "min" else value > best


# ------------------------------------------------------------------------------------------ callbacks
class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` after every epoch and `best.keras` when `monitor` improves, atomically.

    With `resuming=True` (a run continued from its backup) the best value so far is read back from
    `best.json`; a fresh run starts over. If `monitor` is a `val_` metric and the run has no validation,
    the training metric of the same name is monitored instead.
    """

    def __init__(self, directory, monitor="val_loss", mode="min", save_best=True, save_last=True, resuming=False):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', received {mode!r}")
        self.directory = Path(directory)
        self.monitor, self.mode = monitor, mode
        self.save_best, self.save_last = save_best, save_last
        self.best_path = self.directory / "best.keras"
        self.last_path = self.directory / "last.keras"
        self.state_path = self.directory / "best.json"
        self.best = None
        self.best_epoch = None
        self.resuming = resuming

    def _value(self, logs):
        if self.monitor in logs:
            return self.monitor, logs[self.monitor]
        fallback = self.monitor[4:] if self.monitor.startswith("val_") else None
        if fallback in logs:
            return fallback, logs[fallback]
        raise ValueError(
            f"callbacks.checkpoint.monitor: {self.monitor!r} is not among the logged metrics "
            f"({', '.join(sorted(logs))})"
        )

    def on_train_begin(self, logs=None):
        remove_stale_temp_files(self.directory)  # a checkpoint write killed half-way
        if self.resuming and self.state_path.exists():
            try:
                state = json.loads(self.state_path.read_text())
                if not isinstance(state, dict):
                    raise ValueError(f"expected an object, got {type(state).__name__}")
            except (ValueError, RecursionError) as error:
                raise ValueError(f"{self.state_path}: not the best-checkpoint record vras train writes ({error}); "
                                 "delete it to let the resumed run track its best checkpoint from now on") from None
            if state.get("monitor") == self.monitor:
                self.best, self.best_epoch = state["value"], state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        bad = non_finite_weights(self.model)
        if bad:  # never replace a good checkpoint with NaN weights, even without StopOnNonFinite
            raise NonFiniteTrainingError(
                f"epoch {epoch + 1}: weights {', '.join(bad[:3])} are NaN or infinite; {self.directory} keeps the "
                "checkpoints of the last finite epoch")
        if self.save_last:
            atomic_save_model(self.model, self.last_path)
        if self.save_best:
            name, value = self._value(logs)
            value = float(value)
            if math.isfinite(value) and _is_better(value, self.best, self.mode):
                self.best, self.best_epoch = value, epoch + 1
                atomic_save_model(self.model, self.best_path)
                atomic_write_text(self.state_path, json.dumps(
                    {"monitor": self.monitor, "logged_as": name, "value": value, "epoch": epoch + 1}))


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops a run whose loss or weights become NaN / infinite, before anything of that epoch is written.

    Like `keras.callbacks.TerminateOnNaN`, but it raises `NonFiniteTrainingError` (a clear one-line
    error, exit code 2 from `vras train`) instead of letting the epoch end normally, and it runs first at
    the end of an epoch: the checkpoints, `history.csv` and the crash backup keep the last finite epoch.
    A NaN batch loss makes the epoch's mean loss NaN, so checking once per epoch catches it without a
    device sync per step; a NaN `val_` loss or a NaN weight is caught too.
    """

    def __init__(self, workdir=None):
        super().__init__()
        self.workdir = workdir

    def on_epoch_end(self, epoch, logs=None):

        bad = []
        for key, value in (logs or {}).items():
            if key.endswith("loss"):
                try:
                    if not np.all(np.isfinite(np.asarray(value, np.float64))):
                        bad.append(f"{key} = {float(np.asarray(value).ravel()[0])}")
                except (TypeError, ValueError):
                    continue
        weights = non_finite_weights(self.model)
        if weights:
            bad.append(f"weights {', '.join(weights[:3])}{' ...' if len(weights) > 3 else ''} NaN/inf")
        if bad:
            where = f" in {self.workdir}" if self.workdir else ""
            raise NonFiniteTrainingError(
                f"training stopped at epoch {epoch + 1}{where}: {'; '.join(bad)}. Nothing of this epoch was saved "
                "(checkpoints, history.csv and the backup keep the last finite epoch). Lower the learning rate, "
                "set optimizer.clipnorm, or check the data for NaN or out-of-range labels")


class EpochLog(keras.callbacks.Callback):
    """`history.csv` with one row per completed epoch (1-based `epoch` column).

    Unlike `keras.callbacks.CSVLogger(append=True)`, an epoch repeated after a crash replaces its row
    instead of duplicating it; each write is atomic.
    """

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            try:
                return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                        for row in csv.DictReader(f)]
            except (ValueError, TypeError, csv.Error) as error:
                raise ValueError(f"{self.path}: not the history vras train writes (epoch, then numbers per "
                                 f"column): {error}") from None

    def on_epoch_end(self, epoch, logs=None):
        rows = [r for r in self.read() if r["epoch"] < epoch + 1]
        row = {"epoch": epoch + 1}
        for k, v in (logs or {}).items():
            try:
                row[k] = float(v)
            except (TypeError, ValueError):
                continue
        try:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            pass
        rows.append(row)
        keys = ["epoch"] + sorted({k for r in rows for k in r} - {"epoch"})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.path, buffer.getvalue())


def plot_curves(rows: list[dict], path, title="training curves") -> Path:
    """Draw loss and metric curves (train solid, validation dashed) from history rows to a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    bases = sorted({k[4:] if k.startswith("val_") else k for r in rows for k in r} - {"epoch", "learning_rate"})
    bases = ["loss"] + [b for b in bases if b != "loss"]
    fig = Figure(figsize=(4 * len(bases), 3.2), dpi=90)
    epochs = [r["epoch"] for r in rows]
    for i, base in enumerate(bases):
        ax = fig.add_subplot(1, len(bases), i + 1)
        for key, style in ((base, "-"), (f"val_{base}", "--")):
            values = [r.get(key, float("nan")) for r in rows]
            if any(math.isfinite(v) for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


class CurvePlot(keras.callbacks.Callback):
    """Redraws `curves.png` from `history.csv` after every epoch (so it also covers resumed runs)."""

    def __init__(self, log: EpochLog, path, title="training curves"):
        super().__init__()
        self.log, self.path, self.title = log, Path(path), title

    def on_epoch_end(self, epoch, logs=None):
        rows = self.log.read()
        if rows:
            plot_curves(rows, self.path, self.title)


def _tensorboard_available() -> bool:

    if importlib.util.find_spec("tensorboard") is None:
        warnings.warn("callbacks.tensorboard is true but the tensorboard package is not installed "
                      "(pip install -r requirements.txt); no TensorBoard logs are written")
        return False
    return True


class ProgressLine(keras.callbacks.Callback):
    """Outside a terminal (logs, CI, `nohup`), where Keras prints one line per epoch: a line at least
    every `interval` seconds with the epoch, step, rate (steps/s and images/s), the running loss and the
    ETA of the epoch and of the run.

    Args:
        epochs, steps_per_epoch: the run's length; batch_size: images per step (global batch).
        interval: seconds between lines; clock: `time.monotonic` (replaceable in tests); stream: where to print.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, batch_size: int, interval: float = 30.0, clock=None,
                 stream=None):
        super().__init__()

        self.epochs, self.steps, self.batch_size = int(epochs), int(steps_per_epoch), int(batch_size)
        self.interval = float(interval)
        self.clock = clock or time.monotonic
        self.stream = stream
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._start = self._last = self.clock()
        self._done = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):

        self._done += 1
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = self._done / max(now - self._start, 1e-9)
        left_epoch = self.steps - (batch + 1)
        left_run = left_epoch + self.steps * (self.epochs - self._epoch - 1)
        loss = (logs or {}).get("loss")
        loss_text = f", loss {float(loss):.4g}" if loss is not None else ""
        print(f"epoch {self._epoch + 1}/{self.epochs} step {batch + 1}/{self.steps}: {rate:.3g} steps/s "
              f"({rate * self.batch_size:.4g} images/s){loss_text}, epoch ETA {_duration(left_epoch / rate)}, "
              f"run ETA {_duration(left_run / rate)}", file=self.stream or sys.stdout, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def standard_callbacks(workdir, callbacks_config=None, *, is_chief: bool = True, worker_index: int = 0,
                       title: str = "training curves", resuming: bool = False, extra=()) -> list:
    """The callbacks of DESIGN.md §5 for `workdir`, configured by a `CallbacksConfig` (defaults if None).

    Order matters at the end of an epoch: `StopOnNonFinite` first (a NaN epoch writes nothing), then
    checkpoints, `history.csv`, curves, TensorBoard, early stopping, the `extra` (user) callbacks, and the
    crash backup LAST, so that a crash or a full disk while the epoch's files are written re-runs the
    epoch on resume instead of skipping it.

    On a multi-worker cluster only the chief writes checkpoints, logs and curves; every worker keeps its
    own BackupAndRestore state (workers must all resume from the same epoch; their weights are equal).
    """

    cfg = callbacks_config or CallbacksConfig()
    workdir = Path(workdir)
    out = [StopOnNonFinite(workdir)]
    backup = []
    if cfg.backup:
        backup_dir = workdir / ("backup" if is_chief else f"backup-worker{worker_index}")
        # double_checkpoint: a process killed while writing the backup falls back to the previous one.
        backup.append(keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", double_checkpoint=True,
                                                       delete_checkpoint=True))
    if not is_chief:
        return out + list(extra) + backup
    ck = cfg.checkpoint
    if ck.save_best or ck.save_last:
        out.append(AtomicCheckpoint(workdir / "checkpoints", ck.monitor, ck.mode, ck.save_best, ck.save_last,
                                    resuming=resuming))
    log = EpochLog(workdir / "history.csv")
    if cfg.csv or cfg.curves:
        out.append(log)
    if cfg.curves:
        out.append(CurvePlot(log, workdir / "curves.png", title))
    if cfg.tensorboard and _tensorboard_available():
        out.append(keras.callbacks.TensorBoard(str(workdir / "logs"), write_graph=False, update_freq="epoch",
                                               profile_batch=0))
    if cfg.early_stopping is not None:
        es = cfg.early_stopping
        out.append(keras.callbacks.EarlyStopping(monitor=es.monitor, mode=es.mode, patience=es.patience,
                                                 min_delta=es.min_delta,
                                                 restore_best_weights=es.restore_best_weights))
    return out + list(extra) + backup
