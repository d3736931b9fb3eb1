"""`vras train --config configs/NAME.yaml`: train a recipe with tf.distribute (see docs/training.md)."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a model from a YAML recipe (tf.distribute, crash-safe resume, checkpoints, logs)"


def add_arguments(parser):
    parser.add_argument("--config", required=True, help="YAML recipe, e.g. configs/classification.yaml")
    parser.add_argument("--workdir", help="run directory (default: runs/<config name>); rerun to resume")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in a workdir that holds a finished run (deletes its checkpoints, history, "
                             "logs); without it such a workdir is refused")
    parser.add_argument("--strategy", choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"),
                        help="distribution strategy (default: the recipe's, usually auto)")
    parser.add_argument("--cpu-replicas", type=int, metavar="N",
                        help="mirror over N logical CPU devices (testing data parallelism without GPUs)")
    parser.add_argument("--epochs", type=int, metavar="E", help="override the number of epochs")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                        help="fp32, or mixed precision bf16 / fp16 (fp16 with dynamic loss scaling)")
    parser.add_argument("--mixed-precision", dest="precision", choices=("bf16", "fp16"),
                        help=argparse.SUPPRESS)  # the former name of --precision, still accepted
    parser.add_argument("--jit", action="store_true", default=None, help="compile train steps with XLA")
    parser.add_argument("--seed", type=int, metavar="S", help="seed for data order and initialisation")
    parser.add_argument("--check", action="store_true", help="validate the recipe, print it resolved, and exit")


def overrides_from_args(args) -> dict:
    return {"workdir": args.workdir, "strategy": args.strategy, "cpu_replicas": args.cpu_replicas,
            "epochs": args.epochs, "precision": args.precision, "jit": args.jit, "seed": args.seed}


def run(args) -> int:
    from vras_keras.training.config import load_config

    config = load_config(args.config, overrides_from_args(args))  # validated before anything starts
    if args.check:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    from vras_keras.training.signals import EXIT_CODE, TrainingStopped
    from vras_keras.training.trainer import train

    try:
        train(config, overwrite=args.overwrite)
    except TrainingStopped:  # the trainer has said which epoch is backed up
        return EXIT_CODE
    return 0
