"""SIGTERM stops a training run cleanly: `with stop_on_sigterm(): ...` around the training loop.

- The signal raises `TrainingStopped` in the main thread at the next Python instruction: `fit` unwinds
  without running `on_train_end`, so `BackupAndRestore`'s state of the last completed epoch stays in
  `workdir/backup` (and `checkpoints/`, written atomically, hold complete files). `vras train` then prints
  one line saying so and exits with `EXIT_CODE` (143 = 128 + SIGTERM, what shells report for a process
  ended by SIGTERM); rerunning the same command resumes.
- If the main thread is blocked inside TensorFlow (e.g. a collective op of a multi-worker run waiting for
  a worker that is gone), Python cannot run the handler. A watchdog thread, woken through
  `signal.set_wakeup_fd`, then prints the same kind of line and ends the process with `EXIT_CODE` after
  `grace` seconds.

Outside the main thread (where Python allows no signal handlers) the context manager does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading

EXIT_CODE = 128 + signal.SIGTERM  # 143
GRACE_SECONDS = 30.0


class TrainingStopped(BaseException):
    """Raised in the main thread by SIGTERM (a BaseException, like KeyboardInterrupt, so that library code
    catching `Exception` cannot swallow it)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def stop_on_sigterm(on_blocked=None, grace: float = GRACE_SECONDS):
    """While active, SIGTERM raises `TrainingStopped` in the main thread; see the module docstring.

    Args:
        on_blocked: `fn() -> str`, the line printed when the main thread did not react within `grace`
            seconds (just before the process exits with `EXIT_CODE`).
        grace: seconds the main thread gets to unwind before the watchdog ends the process.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = threading.Event()
    done = threading.Event()

    def handler(signum, frame):
        if not received.is_set():
            received.set()
            raise TrainingStopped(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread of the main interpreter
        previous_fd = None
    watchdog = None
    if previous_fd == -1:  # nobody else (e.g. an asyncio loop) uses the wakeup fd: watch it
        def watch():
            while True:
                try:
                    data = reader.recv(64)
                except OSError:
                    return
                if not data:
                    return
                if signal.SIGTERM in data and not done.wait(grace):
                    message = on_blocked() if on_blocked else "stopped by SIGTERM"
                    print(f"{message} (the main thread was blocked for {grace:.0f} s; ending the process)",
                          file=sys.stderr, flush=True)
                    os._exit(EXIT_CODE)

        watchdog = threading.Thread(target=watch, name="vras-sigterm-watchdog", daemon=True)
        watchdog.start()
    elif previous_fd is not None:
        signal.set_wakeup_fd(previous_fd)  # leave another owner's wakeup fd alone
    try:
        yield
    finally:
        done.set()
        signal.signal(signal.SIGTERM, previous)
        if watchdog is not None:
            signal.set_wakeup_fd(previous_fd)
        writer.close()
        if watchdog is not None:
            watchdog.join(timeout=5)
        reader.close()
