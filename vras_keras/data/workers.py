"""Process pools that generate synthetic samples in parallel, outside TensorFlow's process.

ShapesWorld and StickFigures are NumPy + OpenCV code that spends most of its time in the Python
interpreter, so threads (tf.data's parallel `map`) cannot run it on more than one core at a time. A
pool of worker processes can. Every sample depends only on `(seed, index)`, and chunks are returned
in the order they were asked for, so the bytes are the same whatever the number of workers.

The workers are started with the `spawn` method (a fresh interpreter: forking a process that runs
TensorFlow's threads can deadlock the child) the first time a pool of that size is asked for, and
shut down at exit. Unlike plain `spawn`, they do not re-run the caller's main script (so a script
without an `if __name__ == "__main__":` guard works): the worker function and the generator are
found by their module names. Starting one costs about a second (importing NumPy and OpenCV), which is why
`default_workers` keeps small datasets in the calling process.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import importlib
import multiprocessing
import multiprocessing.context
import os
import signal
import threading
import time
from multiprocessing import popen_spawn_posix, spawn

# Below this many samples, generation stays in the calling process (a pool costs ~1 s to start).
MIN_SAMPLES_FOR_WORKERS = 512
# More processes than this rarely help: the tf.data consumer and the training step need cores too.
MAX_AUTO_WORKERS = 4

_POOLS: dict[int, concurrent.futures.ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def default_workers(num_samples: int, workers=None) -> int:
    """How many worker processes generate `num_samples` samples: `workers` when given (0 = in this
    process), else 0 for fewer than `MIN_SAMPLES_FOR_WORKERS` samples or a single core, else
    `min(cores, MAX_AUTO_WORKERS)`."""
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be an integer >= 0 (0: generate in this process), received {workers!r}")
        return workers
    cores = available_cores()
    if num_samples < MIN_SAMPLES_FOR_WORKERS or cores < 2:
        return 0
    return min(cores, MAX_AUTO_WORKERS)


class _PopenWithoutMain(popen_spawn_posix.Popen):
    """`spawn` without importing the parent's `__main__` in the child (only `sys.path` etc. are passed)."""

    def _launch(self, process_obj):
        original = spawn.get_preparation_data

        def without_main(name):
            data = original(name)
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
            return data

        with _LAUNCH_LOCK:
            spawn.get_preparation_data = without_main
            try:
                super()._launch(process_obj)
            finally:
                spawn.get_preparation_data = original


class _Process(multiprocessing.context.SpawnProcess):
    _start_method = "spawn"

    @staticmethod
    def _Popen(process_obj):
        return _PopenWithoutMain(process_obj)


class _Context(multiprocessing.context.SpawnContext):
    Process = _Process


_LAUNCH_LOCK = threading.Lock()


def _init_worker(parent_pid: int) -> None:
    """In each worker: leave Ctrl-C to the parent (which stops the pool), and exit when the parent is gone
    (killed with SIGKILL it cannot stop the pool, and the workers would wait for tasks forever)."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="vras-parent-watch", daemon=True).start()


def pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """The shared pool of `workers` spawned processes (created on first use, shut down at exit)."""
    with _LOCK:
        executor = _POOLS.get(workers)
        if executor is None:
            executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=_Context(), initializer=_init_worker,
                                                              initargs=(os.getpid(),))
            _POOLS[workers] = executor
        return executor


def run(workers: int, fn, *args):
    """`fn(*args)` in a worker of the pool (or here when `workers` is 0); blocks for the result.

    `fn` must be a module-level function and `args` picklable. A pool whose process died (e.g. killed by
    the OS for memory) is replaced once.
    """
    if workers == 0:
        return fn(*args)
    try:
        return pool(workers).submit(fn, *args).result()
    except concurrent.futures.process.BrokenProcessPool:
        with _LOCK:
            _POOLS.pop(workers, None)
        return pool(workers).submit(fn, *args).result()


def _warm(modules, seconds: float) -> None:
    for name in modules:
        importlib.import_module(name)
    time.sleep(seconds)  # keeps this process busy, so that every process of the pool gets one call


def start(workers: int, modules=("vras_keras.data.datasets",)) -> None:
    """Start every process of the pool of `workers` now (they otherwise start on demand) and import
    `modules` in each (what the first task would import: the generators), e.g. before timing it."""
    if workers:
        executor = pool(workers)
        for future in [executor.submit(_warm, tuple(modules), 0.2) for _ in range(workers)]:
            future.result()


@atexit.register
def shutdown() -> None:
    """Stop every pool (at exit; harmless to call earlier: a later `run` starts a new pool)."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for executor in pools:
        executor.shutdown(wait=False, cancel_futures=True)
