"""`vras devices`: which devices training will use, the strategy chosen, and what fp16 / bf16 mean here."""

from __future__ import annotations

NAME = "devices"
HELP = "show the devices and the tf.distribute strategy `vras train` would use here (and GPU precision support)"


def add_arguments(parser):
    parser.add_argument("--config", help="take strategy and cpu_replicas from this recipe")
    parser.add_argument("--strategy", choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"),
                        help="the strategy to resolve (default: the recipe's, else auto)")
    parser.add_argument("--cpu-replicas", type=int, metavar="N", help="as `vras train --cpu-replicas N`")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")


def run(args) -> int:
    import json

    strategy, cpu_replicas = args.strategy, args.cpu_replicas
    if args.config:
        from vras_keras.training.config import load_config

        config = load_config(args.config, {"strategy": strategy, "cpu_replicas": cpu_replicas})
        strategy, cpu_replicas = config.strategy, config.cpu_replicas
    if cpu_replicas is not None and cpu_replicas < 1:
        raise ValueError(f"--cpu-replicas: received {cpu_replicas}; expected an integer >= 1")
    from vras_keras.training.strategy import describe_devices

    info = describe_devices(strategy or "auto", cpu_replicas)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    tf_info = info["tensorflow"]
    cuda = (f"built with CUDA {tf_info['cuda']}, cuDNN {tf_info['cudnn']}" if tf_info["built_with_cuda"]
            else "built without CUDA (CPU only; for GPUs: pip install 'vras_keras[gpu]')")
    print(f"TensorFlow {tf_info['version']}, {cuda}")
    print("Physical devices:")
    for d in info["devices"]:
        extra = f"  {d.get('model')} (compute capability {d.get('compute_capability')})" if d["kind"] == "GPU" else ""
        print(f"  {d['name']}{extra}")
    if not any(d["kind"] == "GPU" for d in info["devices"]):
        print("  (no GPU visible to TensorFlow)")
    print(f"Strategy: {info['strategy']}" + (f" (from {strategy or 'auto'})" if (strategy or "auto") == "auto" else ""))
    if info.get("cluster"):
        c = info["cluster"]
        print(f"  cluster of {len(c['workers'])} workers {', '.join(c['workers'])}; this process is "
              f"{c['task'].get('type')} {c['task'].get('index')}")
    elif info["replica_devices"]:
        print(f"  {len(info['replica_devices'])} replica(s) on: {', '.join(info['replica_devices'])}")
    print("Precision (`precision:` in a recipe, `vras train --precision`):")
    for key, value in info["precision"].items():
        print(f"  {key}: {value}")
    return 0
