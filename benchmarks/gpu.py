"""The GPU path, measured: ResNet-50 training images/s and MirroredStrategy scaling.

1. ResNet-50 training images/s, vras_keras `resnet50` against `keras.applications.ResNet50` (weights=None),
   same input size, batch, optimizer (SGD momentum 0.9), loss, synthetic data already on the device,
   under fp32, fp16 (mixed_float16 with dynamic loss scaling) and bf16 (mixed_bfloat16), each without and
   with XLA (`jit_compile=True`). The models alternate (A, B, A, B) so that a change of load hits both; the
   best repetition is kept.
2. MirroredStrategy scaling: vras_keras `resnet50` training images/s at a fixed per-replica batch on 1, 2,
   4, ... replicas. With several physical GPUs the replicas are GPUs; with one GPU it is split into
   logical GPUs (equal memory slices of the same chip: this measures the cost of mirroring, not a speed-up).

Every measurement runs in a child process (a fresh TensorFlow: logical devices must be configured before
TensorFlow starts, and each child lets GPU memory grow instead of taking all of it). Results go to
`benchmarks/results/gpu.md` (not with --quick).

`--quick` is a CPU smoke run of the same code paths (tiny width and images, 2 logical CPUs instead of
GPUs, a few steps; its numbers mean nothing and nothing is written).

Usage: python benchmarks/gpu.py [--size 224] [--batch 64] [--steps 30] [--repeats 2] [--replicas 1,2,4]
       python benchmarks/gpu.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PRECISIONS = {"fp32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}
MODELS = ("vras_keras resnet50", "keras.applications.ResNet50")


# ------------------------------------------------------------------------------------------- children
def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _run_child(args: dict, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(args)],
                          env=_child_env(), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {args} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _setup_devices(tf, replicas: int, cpu: bool):
    """Replica devices: GPUs (split into logical GPUs when there are fewer physical ones) or logical CPUs."""
    if cpu:
        from vras_keras.training.strategy import configure_cpu_replicas

        configure_cpu_replicas(replicas)
        return [f"/cpu:{i}" for i in range(replicas)], "logical CPU"
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise SystemExit("no GPU visible to TensorFlow (install the gpu extra, see docs/training.md; "
                         "or run with --quick on a CPU)")
    if len(gpus) >= replicas:
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        return [f"/gpu:{i}" for i in range(replicas)], "physical GPU"
    per_mb = int(os.environ.get("VRAS_BENCH_LOGICAL_GPU_MB", "16000"))
    tf.config.set_logical_device_configuration(
        gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=per_mb) for _ in range(replicas)])
    return [f"/gpu:{i}" for i in range(replicas)], f"logical GPU ({per_mb} MB each) on one chip"


def _build(which, size, num_classes, width):
    import keras

    from vras_keras import models

    if which == MODELS[0]:
        return models.get("resnet50", input_shape=(size, size, 3), num_classes=num_classes, width=width)
    return keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=num_classes,
                                       classifier_activation=None)


def _dataset(tf, global_batch, size, num_classes):
    images = tf.random.uniform((global_batch, size, size, 3), 0, 255, seed=0)
    labels = tf.random.uniform((global_batch,), 0, num_classes, dtype=tf.int32, seed=1)
    return tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)


def _images_per_second(tf, keras, model, ds, global_batch, warmup, steps, jit):
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=jit)
    model.fit(ds, epochs=1, steps_per_epoch=warmup, verbose=0)  # traces / compiles
    start = time.perf_counter()
    history = model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)  # returns numbers: synchronised
    seconds = time.perf_counter() - start
    loss = float(history.history["loss"][-1])
    if loss != loss:
        raise FloatingPointError("training loss became NaN")
    return global_batch * steps / seconds


def child(args: dict) -> dict:
    """Runs in a fresh process: one measurement described by `args` (see `main`)."""
    import tensorflow as tf

    replicas, cpu = args["replicas"], args["cpu"]
    devices, kind = _setup_devices(tf, replicas, cpu)
    import keras

    size, batch, width, num_classes = args["size"], args["batch"], args["width"], 1000
    policy_before = keras.config.dtype_policy()
    results = []
    try:
        if args["part"] == "models":
            # one device, no strategy object: TensorFlow places everything on the first GPU (or the CPU)
            ds = _dataset(tf, batch, size, num_classes)
            for precision, jit in args["settings"]:
                best = {}
                for _ in range(args["repeats"]):
                    for which in MODELS:
                        keras.config.set_dtype_policy(PRECISIONS[precision])
                        keras.backend.clear_session()
                        model = _build(which, size, num_classes, width)
                        rate = _images_per_second(tf, keras, model, ds, batch, args["warmup"], args["steps"], jit)
                        best[which] = max(best.get(which, 0.0), rate)
                        keras.config.set_dtype_policy(policy_before)
                results.append({"precision": precision, "jit": jit, **best})
        else:  # scaling
            strategy = tf.distribute.MirroredStrategy(
                devices, cross_device_ops=tf.distribute.ReductionToOneDevice() if cpu else None)
            precision, jit = args["settings"][0]
            keras.config.set_dtype_policy(PRECISIONS[precision])
            global_batch = batch * replicas
            ds = _dataset(tf, global_batch, size, num_classes)
            with strategy.scope():  # variables, optimizer and compiled step all belong to the strategy
                model = _build(MODELS[0], size, num_classes, width)
                rate = _images_per_second(tf, keras, model, ds, global_batch, args["warmup"], args["steps"], jit)
            results.append({"replicas": replicas, "images_per_s": rate})
    finally:
        keras.config.set_dtype_policy(policy_before)
    gpus = tf.config.list_physical_devices("GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name") if gpus else "CPU"
    return {"device": name, "kind": kind, "results": results}


# --------------------------------------------------------------------------------------------- parent
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run of every code path; writes nothing")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64, help="images per replica per step")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,fp16,bf16")
    parser.add_argument("--replicas", default="1,2,4", help="replica counts of the scaling part")
    parser.add_argument("--scaling-precision", default="bf16")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    precisions = args.precisions.split(",")
    unknown = [p for p in precisions + [args.scaling_precision] if p not in PRECISIONS]
    if unknown:
        parser.error(f"--precisions: unknown {unknown}; expected {', '.join(PRECISIONS)}")
    replicas = [int(r) for r in args.replicas.split(",")]
    base = {"size": args.size, "batch": args.batch, "steps": args.steps, "warmup": args.warmup,
            "repeats": args.repeats, "width": 1.0, "cpu": False}
    if args.quick:
        base = {"size": 32, "batch": 2, "steps": 2, "warmup": 1, "repeats": 1, "width": 0.125, "cpu": True}
        replicas = [1, 2]
    timeout = 1800  # per child; a quick run on a busy 2-core CPU can take minutes (XLA compiles ResNet-50)
    started = time.time()
    print("-- ResNet-50: vras_keras vs keras.applications", flush=True)
    settings = [[p, jit] for p in precisions for jit in (False, True)]
    if args.quick:  # each precision once, XLA once (XLA compiling ResNet-50 for the CPU is slow)
        settings = [["fp32", False], ["fp16", False], ["bf16", True]]
    models_part = _run_child({**base, "part": "models", "replicas": 1, "settings": settings}, timeout)
    print(json.dumps(models_part), flush=True)
    scaling = []
    for n in replicas:
        print(f"-- MirroredStrategy, {n} replica(s)", flush=True)
        scaling.append(_run_child({**base, "part": "scaling", "replicas": n,
                                   "settings": [[args.scaling_precision, False]]}, timeout))
        print(json.dumps(scaling[-1]), flush=True)
    markdown = render(models_part, scaling, base, args.scaling_precision, time.time() - started)
    if not args.quick:
        from _report import write_section

        print(write_section("gpu", markdown))
    print(markdown)
    return 0


def render(models_part, scaling, base, scaling_precision, seconds) -> str:
    size, batch = base["size"], base["batch"]
    md = [
        "## GPU: ResNet-50 training and MirroredStrategy scaling (`benchmarks/gpu.py`)\n",
        f"Device: {models_part['device']} ({models_part['kind']}); synthetic {size}x{size} images already on "
        f"the device, batch {batch} per replica, SGD momentum 0.9, {base['steps']} timed steps after "
        f"{base['warmup']} warm-up steps, best of {base['repeats']}; {seconds / 60:.1f} min in all.\n",
        "| precision | XLA | vras_keras resnet50 img/s | keras.applications ResNet50 img/s | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for r in models_part["results"]:
        ours, theirs = r[MODELS[0]], r[MODELS[1]]
        md.append(
            f"| {r['precision']} | {'yes' if r['jit'] else 'no'} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.2f}x |"
        )
    one = scaling[0]["results"][0]["images_per_s"]
    md += ["", f"**MirroredStrategy** (vras_keras resnet50, {scaling_precision}, batch {batch} per replica, "
               f"replicas on {scaling[0]['kind']}):\n",
           "| replicas | global batch | img/s | vs 1 replica |", "|---:|---:|---:|---:|"]
    for s in scaling:
        r = s["results"][0]
        md.append(f"| {r['replicas']} | {batch * r['replicas']} | {r['images_per_s']:.0f} | "
                  f"{r['images_per_s'] / one:.2f}x |")
    return "\n".join(md)


if __name__ == "__main__":
    sys.exit(main())
