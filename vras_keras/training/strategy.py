"""`make_strategy(name, cpu_replicas=None)`: the tf.distribute strategy a training run uses.

| name           | strategy                                                                           |
|----------------|------------------------------------------------------------------------------------|
| `one_device`   | TensorFlow's default strategy: the first GPU, else the CPU (as a plain `fit`)      |
| `mirrored`     | `MirroredStrategy` over all local GPUs, or over `cpu_replicas` logical CPU devices  |
| `multi_worker` | `MultiWorkerMirroredStrategy`; the cluster comes from the `TF_CONFIG` variable      |
| `tpu`          | `TPUStrategy` on the TPU named by `TPU_NAME` (or the local TPU VM)                 |
| `auto`         | multi_worker if `TF_CONFIG` names >1 task; mirrored if `cpu_replicas` or >1 GPU;   |
|                | otherwise one_device                                                               |

Logical CPU devices (for testing data parallelism on a laptop) must be configured before TensorFlow
initialises its devices, i.e. before the first op runs; `make_strategy` is therefore the first thing the
trainer does. If devices are already initialised with a different layout, a `RuntimeError` explains
what to do instead of TensorFlow's generic message.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGY_NAMES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def tf_config() -> dict | None:
    """The parsed `TF_CONFIG` environment variable, or None; malformed JSON raises `ValueError`."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); received {raw[:200]!r}") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(
            'TF_CONFIG must be {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
            f'"index": i}}; received {raw[:200]!r}'
        )
    return config


def _num_cluster_tasks(config: dict | None) -> int:
    if not config:
        return 0
    return sum(len(v) for k, v in config["cluster"].items() if k in ("chief", "worker"))


def configure_cpu_replicas(n: int) -> None:
    """Split the host CPU into `n` logical devices (`/cpu:0` … `/cpu:{n-1}`) for MirroredStrategy.

    Must run before TensorFlow initialises its devices. Calling it again with the same `n` is a no-op.

    Raises:
        ValueError: `n` < 1.
        RuntimeError: devices are already initialised with another layout.
    """

    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"cpu_replicas must be an integer >= 1, received {n!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        raise RuntimeError(
            f"Cannot split the CPU into {n} logical devices: TensorFlow has already initialised its devices "
            f"({have} logical CPU device(s)). Logical devices must be configured before the first TensorFlow "
            "op runs: call make_strategy(..., cpu_replicas=N) / `vras train --cpu-replicas N` at the start of "
            "a fresh process (the tests run this in a subprocess)."
        ) from None


def resolve_strategy_name(name: str = "auto", cpu_replicas: int | None = None) -> str:
    """The strategy `name` stands for: `auto` resolved as in the module docstring (creates nothing)."""

    if name != "auto":
        return name
    if _num_cluster_tasks(tf_config()) > 1:
        return "multi_worker"
    if cpu_replicas or len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "one_device"


def describe_devices(name: str = "auto", cpu_replicas: int | None = None) -> dict:
    """What a training run with strategy `name` would use on this machine, without training.

    Returns a dict: `tensorflow` (version, built with CUDA, CUDA/cuDNN versions), `devices` (physical
    devices with name, kind and, for GPUs, model and compute capability), `strategy` (the resolved name),
    `replica_devices` (the devices a replica runs on; for multi_worker the cluster from `TF_CONFIG`
    instead, since joining it would wait for the other workers), and `precision` (what fp16 / bf16 mean
    here). Creating the strategy may configure logical CPU devices (`cpu_replicas`), so call it in a fresh
    process, as `vras devices` does.
    """

    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy: received {name!r}; expected one of {', '.join(STRATEGY_NAMES)}")
    build = tf.sysconfig.get_build_info()
    info = {"tensorflow": {"version": tf.__version__, "built_with_cuda": bool(tf.test.is_built_with_cuda()),
                           "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}}
    devices = []
    for device in tf.config.list_physical_devices():
        entry = {"name": device.name, "kind": device.device_type}
        if device.device_type == "GPU":
            details = tf.config.experimental.get_device_details(device)
            entry["model"] = details.get("device_name")
            cc = details.get("compute_capability")
            entry["compute_capability"] = ".".join(map(str, cc)) if cc else None
        devices.append(entry)
    info["devices"] = devices
    resolved = resolve_strategy_name(name, cpu_replicas)
    info["strategy"] = resolved
    cluster = tf_config()
    if resolved == "multi_worker":
        if _num_cluster_tasks(cluster) < 1:
            make_strategy("multi_worker")  # raises the ValueError that explains TF_CONFIG
        info["cluster"] = {"workers": cluster["cluster"].get("chief", []) + cluster["cluster"].get("worker", []),
                           "task": cluster["task"]}
        info["replica_devices"] = None
    elif resolved == "tpu":
        info["replica_devices"] = None  # connecting to a TPU is what `vras train --strategy tpu` does
    else:
        strategy = make_strategy(resolved, cpu_replicas)
        info["replica_devices"] = list(strategy.extended.worker_devices)
    gpus = [d for d in devices if d["kind"] == "GPU"]
    capabilities = [float(d["compute_capability"]) for d in gpus if d.get("compute_capability")]
    if gpus:
        low = min(capabilities) if capabilities else 0.0
        info["precision"] = {
            "fp16": "fast (tensor cores)" if low >= 7.0 else "runs, little or no speed-up (compute capability < 7.0)",
            "bf16": "fast (tensor cores)" if low >= 8.0 else "emulated, slow (compute capability < 8.0)",
        }
    else:
        info["precision"] = {"fp16": "runs on the CPU, slower than fp32 (for testing; use a GPU)",
                             "bf16": "runs on the CPU; fast only with AMX / AVX512-BF16 instructions"}
    return info


def make_strategy(name: str = "auto", cpu_replicas: int | None = None):
    """Create the `tf.distribute.Strategy` named `name` (see the module docstring).

    Args:
        name: one of `STRATEGY_NAMES`.
        cpu_replicas: number of logical CPU devices to mirror over (`mirrored` / `auto` only).

    Returns:
        A `tf.distribute.Strategy`; `strategy.num_replicas_in_sync` gives the replica count.
    """

    if name not in STRATEGY_NAMES:
        raise ValueError(f"strategy: received {name!r}; expected one of {', '.join(STRATEGY_NAMES)}")
    if cpu_replicas is not None and name not in ("auto", "mirrored"):
        raise ValueError(f"cpu_replicas={cpu_replicas} only applies to strategy 'mirrored' or 'auto', not {name!r}")
    cluster = tf_config()
    name = resolve_strategy_name(name, cpu_replicas)

    if name == "one_device":
        # TensorFlow's default strategy (what a plain `model.fit` uses; ops on the first GPU, else the CPU),
        # not `OneDeviceStrategy`: under that scope the same model, data and `fit` stepped about 2x slower on
        # CPU (7.6-8.5 vs 15.4-17.4 steps/s, resnet_cifar depth 8 width 0.5, 28x28x1, batch 64; issue #23).
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if cpu_replicas:
            configure_cpu_replicas(cpu_replicas)
            devices = [f"/cpu:{i}" for i in range(cpu_replicas)]
            # On CPU, NCCL is unavailable; reduce through one device.
            return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([g.name for g in gpus] if gpus else ["/cpu:0"])
    if name == "multi_worker":
        if _num_cluster_tasks(cluster) < 1:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable describing the cluster, e.g. "
                'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}\' (see docs/training.md)'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    # name == "tpu": documented path, not exercised by the tests (no TPU here).
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def strategy_label(strategy) -> str:
    """The strategy's class name for log lines; `OneDevice (default)` for TensorFlow's default strategy."""
    name = type(strategy).__name__
    return "OneDevice (default)" if name == "_DefaultDistributionStrategy" else name


def is_multi_worker(strategy) -> bool:
    """True for a MultiWorkerMirroredStrategy spanning more than one worker."""
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "_in_multi_worker_mode", lambda: False)())


def worker_info(strategy) -> tuple[int, bool]:
    """`(task_index, is_chief)` of this process; `(0, True)` outside a multi-worker cluster."""
    if not is_multi_worker(strategy):
        return 0, True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                         and "chief" not in resolver.cluster_spec().as_dict())
    return int(task_id or 0), is_chief


def barrier(strategy) -> int:
    """Block until every worker of `strategy` reaches this call (an all-reduce of one number); returns the
    number of replicas that took part. Outside a multi-worker cluster it returns at once.

    The trainer calls it at the very end of a multi-worker run, after the chief has written its artefacts:
    no worker exits while another still runs, so the chief never trains or saves next to a peer that is
    gone (whose missing heartbeat aborts the cluster's collective ops).
    """
    if not is_multi_worker(strategy):
        return strategy.num_replicas_in_sync

    @tf.function
    def count():
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)

    return int(count())
