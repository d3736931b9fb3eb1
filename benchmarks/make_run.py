"""Time `make run` on a clean clone: seconds until the demo URL is printed, until each page's model is ready
(SavedModel), until the TFLite files follow, and the second start (everything exported: URL, no training).

The clone is a `git clone` of this checkout's HEAD into a temporary folder (no savedmodels/, no runs/), where
`make run` itself is started, twice. `make run` is `make install` then `.venv/bin/vras demo`:
- by default the clone's `.venv` is a link to the virtual environment running this script and `make` is told
  that the install is done (`make -o .venv/.installed run`): the install is not timed (the issue's goal is
  the URL "within 3 minutes after the install"); the clone is first on PYTHONPATH, so its code is what runs;
- `--fresh-venv` runs `make install` in the clone first (a new .venv: needs the network and several minutes;
  its time is reported apart), then `make run`.
Run it alone: it is a wall-clock measurement on a 2-core machine, and the load average is recorded with it.
`--quick` (tiny one-epoch recipes: `vras demo --quick`) and `--tasks` check the script itself in minutes; their
numbers are not the benchmark and are printed only, never written.

Usage: python benchmarks/make_run.py [--timeout-min 90] [--port 8599] [--fresh-venv] [--quick] [--tasks a,b]
                                     [--keep] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, write_section  # noqa: E402

URL_LINE = "the demo is running: http://"
FAMILIES = ("pose", "stn", "matching", "classification", "detection", "segmentation")


def link_venv(clone: Path) -> None:
    """The clone's `.venv` -> the virtual environment of this interpreter (its `vras` entry point included)."""
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix) or not (venv / "bin" / "vras").exists():
        raise SystemExit(f"run this script with the project's virtual environment (.venv/bin/python; {sys.prefix} "
                         "has no `vras`), or pass --fresh-venv")
    (clone / ".venv").symlink_to(venv, target_is_directory=True)


def make_install(clone: Path, log_path: Path) -> float:
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.call(["make", "install"], cwd=clone, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise RuntimeError(f"make install failed ({code}):\n{log_path.read_text()[-3000:]}")
    return time.monotonic() - t0


def start(clone: Path, port: int, log_path: Path, run_args: str, fresh: bool) -> tuple[subprocess.Popen, object]:
    """`make run` in the clone (`RUN_ARGS` = the port and `run_args`)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    if not fresh:  # the linked environment's editable install points elsewhere: the clone's code goes first
        env["PYTHONPATH"] = str(clone)
    log = open(log_path, "w")
    command = ["make"] + ([] if fresh else ["-o", ".venv/.installed"])
    command += ["run", f"RUN_ARGS=--port {port} {run_args}".strip()]
    process = subprocess.Popen(command, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process, log


def wait_for_url(process, log_path: Path, t0: float, timeout: float) -> float:
    while time.monotonic() - t0 < timeout:
        if URL_LINE in log_path.read_text(errors="replace"):
            return time.monotonic() - t0
        if process.poll() is not None:
            raise RuntimeError(f"vras demo exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"no URL within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


def page_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout-min", type=float, default=90.0)
    parser.add_argument("--port", type=int, default=8599)
    parser.add_argument("--fresh-venv", action="store_true", help="make install in the clone (network; timed apart)")
    parser.add_argument("--quick", action="store_true", help="vras demo --quick: check this script, not a benchmark")
    parser.add_argument("--tasks", help="only these demo families (comma-separated): a check, not a benchmark")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write benchmarks/results/")
    args = parser.parse_args(argv)
    timeout = args.timeout_min * 60
    work = Path(tempfile.mkdtemp(prefix="vras_make_run_"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    families = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else list(FAMILIES)
    run_args = " ".join(["--quick"] * args.quick + ([f"--tasks {','.join(families)}"] if args.tasks else []))
    check_only = bool(args.quick or args.tasks)
    install_s = None
    if args.fresh_venv:
        install_s = make_install(clone, work / "install.log")
        print(f"make install (fresh .venv): {install_s:.0f} s", flush=True)
    else:
        link_venv(clone)
    load_before = os.getloadavg()[0]
    ready, tflite, health = {}, {}, []
    try:
        t0 = time.monotonic()
        process, log = start(clone, args.port, work / "first.log", run_args, args.fresh_venv)
        url_s = wait_for_url(process, work / "first.log", t0, timeout)
        print(f"first start: URL after {url_s:.1f} s", flush=True)
        status_file = clone / "runs" / "demo" / "status.json"
        states = {}
        while time.monotonic() - t0 < timeout and len(tflite) < len(families):
            try:
                states = json.loads(status_file.read_text())["families"]
            except (OSError, ValueError, KeyError):
                states = {}
            now = time.monotonic() - t0
            for task, entry in states.items():
                if entry.get("state") == "ready" and task not in ready:
                    ready[task] = now
                    print(f"  {task}: ready after {now:.0f} s", flush=True)
                if entry.get("state") == "failed" and task not in ready:
                    ready[task] = float("nan")
                    tflite[task] = f"failed: {entry.get('reason')}"
                    print(f"  {task}: FAILED {entry.get('reason')}", flush=True)
                if str(entry.get("tflite", "")).startswith(("done", "failed")) and task not in tflite:
                    tflite[task] = f"{now:.0f} s" if entry["tflite"] == "done" else entry["tflite"]
            health.append(page_ok(args.port))
            if process.poll() is not None:
                raise RuntimeError(f"vras demo exited:\n{(work / 'first.log').read_text()[-3000:]}")
            time.sleep(2)
        served = bool(health) and all(health)
        stop(process)
        log.close()
        t1 = time.monotonic()
        process, log = start(clone, args.port, work / "second.log", run_args, args.fresh_venv)
        second_s = wait_for_url(process, work / "second.log", t1, timeout)
        trained_again = "in the background" in (work / "second.log").read_text()
        print(f"second start: URL after {second_s:.1f} s (trained again: {trained_again})", flush=True)
        stop(process)
        log.close()
    finally:
        if args.keep:
            print(f"clone kept: {clone}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()[0]
    rows = [f"| {t} | {ready.get(t, float('nan')):.0f} | {tflite.get(t, 'not reached')} |" for t in families]
    lines = [
        "## `make run` on a clean clone (`benchmarks/make_run.py`)",
        "",
        f"{machine()}; 1-min load average {load_before:.1f} before, {load_after:.1f} after. `make run` in a fresh "
        "`git clone` of the checkout (no savedmodels/, no runs/), "
        + (f"after `make install` into a new .venv ({install_s:.0f} s). " if install_s is not None else
           "with the project's virtual environment (the install is not timed). ")
        + "Seconds from the start of `make run`."
        + (f" CHECK RUN (`{run_args}`): not the benchmark." if check_only else ""),
        "",
        f"- demo URL printed: **{url_s:.1f} s** (goal: < 180 s)",
        f"- second start (every model exported): URL after **{second_s:.1f} s** (goal: < 60 s); trained again: "
        f"{'yes' if trained_again else 'no'}",
        f"- app answering its health check at every poll (2 s) while training: {'yes' if served else 'no'}",
        "",
        "| family (training order) | SavedModel ready (s) | TFLite added |",
        "|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write and not check_only:
        write_section("make_run", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
