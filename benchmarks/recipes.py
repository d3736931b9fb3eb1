"""Train every recipe in `configs/` to the end with `vras train`, exactly as a user would.

For each recipe: the command's exit status, epochs, wall-clock and CPU minutes of the training process,
the final training loss and every validation metric of the last epoch, the best checkpoint's metric,
and a reference value that says whether the model is useful (chance accuracy, or the metric of the
untrained model where there is no chance level). Results go to `benchmarks/results/recipes.md`.

Usage: python benchmarks/recipes.py [--only classification stn ...] [--workdir runs/bench_recipes]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import RESULTS_DIR, machine, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# what "useful" is measured against, per recipe (documented chance levels of the built-in data)
REFERENCES = {
    "classification": ("val_accuracy", "chance 1/6 = 0.167 (6 shape classes)"),
    "finetune": ("val_accuracy", "chance 1/6 = 0.167 (6 shape classes)"),
    "stn": ("val_accuracy", "chance 0.100 (10 digits)"),
    "segmentation": ("val_miou", "all-background prediction: mIoU < 0.143 (1 of 7 classes)"),
    "detection": ("val_loss", "COCO AP50 of the best checkpoint (`vras evaluate`, 200 val images) in the last column"),
    "pose": ("val_keypoints_mean_pixel_error", "falls from the first epoch's (mean keypoint error in pixels)"),
    "matching": ("val_mma3", "rises from the first epoch's (MMA@3 px of whole views of the validation photographs, "
                 "metrics.matching.evaluate_pair)"),
}


def _cpu_minutes_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) / 60.0


def missing_weights(name: str) -> str | None:
    """Why recipe `name` cannot run here, when it asks for `weights: imagenet` that are neither cached nor
    fetchable (no network): "needs downloaded weights", with where to place the file; None otherwise."""
    import yaml

    model = (yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text()) or {}).get("model") or {}
    if model.get("weights") != "imagenet":
        return None
    sys.path.insert(0, str(ROOT))
    from vras_keras.models import pretrained

    if model.get("id") not in pretrained.SOURCES:
        return None  # the run itself reports the unsupported id
    path = pretrained.imagenet_cache_path(model["id"])
    if path.is_file():
        return None
    try:
        pretrained._probe_hub()
        return None  # the run downloads them
    except ConnectionError as error:
        repo = pretrained.SOURCES[model["id"]]
        return (f"needs downloaded weights: hf://{repo} is not cached at {path} and cannot be fetched ({error}); "
                f"download https://huggingface.co/{repo}/resolve/main/model.safetensors there, or set "
                "`model.weights` to a local file")


def run_recipe(name: str, workdir: Path) -> dict:
    missing = missing_weights(name)
    if missing:
        return {"name": name, "rc": 0, "needs": missing}
    if workdir.exists():
        shutil.rmtree(workdir)  # a fresh run, not a resume of an earlier benchmark
    cmd = [sys.executable, "-m", "vras_keras.cli", "train", "--config", str(ROOT / "configs" / f"{name}.yaml"),
           "--workdir", str(workdir)]
    cpu0, t0 = _cpu_minutes_of_children(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)})
    wall, cpu = (time.perf_counter() - t0) / 60.0, _cpu_minutes_of_children() - cpu0
    result = {"name": name, "rc": proc.returncode, "wall_min": wall, "cpu_min": cpu}
    summary_path = workdir / "summary.json"
    if proc.returncode != 0 or not summary_path.exists():
        result["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return result
    summary = json.loads(summary_path.read_text())
    result.update(model=summary["model"], epochs=summary["epochs_completed"], final=summary["final"],
                  best=summary["best"])
    if summary["task"] == "detection":  # losses say little about a detector: COCO AP of the best checkpoint
        checkpoint = workdir / "checkpoints" / ("best.keras" if (workdir / "checkpoints" / "best.keras").exists()
                                                else "last.keras")
        out = workdir / "evaluate.json"
        ev = subprocess.run([sys.executable, "-m", "vras_keras.cli", "evaluate", str(checkpoint), "--num-samples",
                             "200", "--score-threshold", "0.001", "--json", str(out)], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)})
        result["coco"] = json.loads(out.read_text()) if ev.returncode == 0 and out.exists() else {
            "error": (ev.stderr or ev.stdout).strip().splitlines()[-1:]}
    history = (workdir / "history.csv")
    if history.exists():
        import csv

        rows = list(csv.DictReader(history.open()))
        result["first"] = {k: float(v) for k, v in rows[0].items() if v not in ("", None)} if rows else {}
    return result


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def to_markdown(results: list[dict]) -> str:
    rows = []
    for r in results:
        if "needs" in r:  # not a failure: the recipe needs pretrained weights this machine does not have
            rows.append(f"| `{r['name']}.yaml` | — | — | — | not run: {r['needs']} | | |")
            continue
        if r["rc"] != 0 or "final" not in r:
            rows.append(f"| `{r['name']}.yaml` | — | failed (exit {r['rc']}): {' '.join(r.get('error', []))} "
                        f"| | | | |")
            continue
        key, reference = REFERENCES.get(r["name"], ("val_loss", ""))
        final = r["final"]
        vals = ", ".join(f"{k} {_fmt(v)}" for k, v in final.items() if k.startswith("val_"))
        first = r.get("first", {}).get(key)
        ref = reference + (f"; first epoch {key} {first:.3f}" if first is not None else "")
        if "coco" in r:
            coco = r["coco"]
            ref += ("; " + ", ".join(f"{k} {v:.3f}" for k, v in coco.items() if k in ("AP", "AP50", "AP75"))
                    if "error" not in coco else f"; evaluation failed: {' '.join(coco['error'])}")
        best = f"{r['best']['logged_as']} {r['best']['value']:.3f} (epoch {r['best']['epoch']})" if r["best"] else "—"
        rows.append(f"| `{r['name']}.yaml` | `{r['model']}` | {r['epochs']} | {r['wall_min']:.1f} / {r['cpu_min']:.1f} "
                    f"| loss {final.get('loss', float('nan')):.3f}; {vals} | {best} | {ref} |")
    return f"""## Training recipes (`vras train --config configs/NAME.yaml`)

`benchmarks/recipes.py` — {machine()}; 1-min load average when written {os.getloadavg()[0]:.1f}. Each recipe
is run unchanged from a fresh work directory, as a user would (default strategy, float32, no XLA).
Time is wall clock / CPU minutes of the training process (CPU minutes can exceed wall minutes on 2 cores;
wall minutes grow when the machine is shared).

| recipe | model | epochs | minutes (wall / CPU) | last epoch | best checkpoint | useful against |
|---|---|---|---|---|---|---|
""" + "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="recipe names (default: every configs/*.yaml)")
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "bench_recipes"))
    args = parser.parse_args(argv)
    names = args.only or sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    store = RESULTS_DIR / "recipes.json"  # results of earlier runs, so `--only` updates single rows
    codes = {}
    for name in names:
        print(f"== {name}", flush=True)
        result = run_recipe(name, Path(args.workdir) / name)
        codes[name] = result["rc"]
        print(json.dumps(result, indent=1), flush=True)
        # re-read the store before writing: another `--only` run may have added rows meanwhile
        results = {r["name"]: r for r in json.loads(store.read_text())} if store.exists() else {}
        results[name] = result
        ordered = [results[n] for n in sorted(results)]
        store.write_text(json.dumps(ordered, indent=1))
        write_section("recipes", to_markdown(ordered))
    return 0 if all(rc == 0 for rc in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
