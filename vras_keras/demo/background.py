"""The background trainer of `vras demo` / `make run`: `recipes.prepare` in a process of its own, so that
the app is served at once and each page goes live when its model lands.

`start(...)` launches `python -m vras_keras.demo.background ...` in a new session (it survives a browser
reload, and Ctrl-C of `vras demo` stops it), its output going to `RUNS/background.log`; progress goes to
`RUNS/status.json` (`vras_keras.demo.status`). A trainer already running on the same `RUNS` folder is
not started twice.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from vras_keras.demo import status


def command(savedmodels, runs_dir, *, config_dir=None, tasks: Sequence[str] | None = None,
            retrain: bool = False, quick: bool = False, landscape: bool = True) -> list[str]:
    """The command line of the background trainer."""
    cmd = [
        sys.executable,
        "-m",
        "vras_keras.demo.background",
        "--savedmodels",
        str(savedmodels),
        "--runs",
        str(runs_dir),
    ]
    if config_dir is not None:
        cmd += ["--configs", str(config_dir)]
    if tasks:
        cmd += ["--tasks", ",".join(tasks)]
    cmd += [flag for flag, on in (("--retrain", retrain), ("--quick", quick), ("--no-landscape", not landscape)) if on]
    return cmd


def start(savedmodels, runs_dir, **kwargs) -> subprocess.Popen | None:
    """Start the background trainer (see `command` for the arguments) unless one runs on `runs_dir`;
    returns the process, or None when one was already running."""
    if status.trainer_alive(runs_dir):
        return None
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    log = open(runs_dir / status.LOG_FILE, "a")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    try:
        # nice: the app (and its user) go first on a machine with 2 cores
        return subprocess.Popen(command(savedmodels, runs_dir, **kwargs), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                preexec_fn=lambda: os.nice(5))
    finally:
        log.close()


def stop(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Terminate a trainer started by `start` (its checkpoints and backup let the next one resume)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vras_keras.demo.background",
                                     description="train and export the demo models one at a time (see vras demo)")
    parser.add_argument("--savedmodels", default="savedmodels")
    parser.add_argument("--runs", default="runs/demo")
    parser.add_argument("--configs")
    parser.add_argument("--tasks")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-landscape", action="store_true")
    args = parser.parse_args(argv)
    from vras_keras.demo import recipes

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    outcomes = recipes.prepare(args.savedmodels, config_dir=args.configs, runs_dir=args.runs, tasks=tasks,
                               retrain=args.retrain, quick=args.quick, landscape=not args.no_landscape)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
