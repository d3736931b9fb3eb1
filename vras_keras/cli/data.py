"""`vras data make`: write ShapesWorld / StickFigures data to disk in a standard format.

    vras data make --task detection --format coco --num 200 --out data/shapes_coco

writes `OUT/train` (N samples) and `OUT/val` (N // 5, at least 1) from the train and val seed streams;
`vras data check` reads a folder back with the loaders and reports what it holds (or what is wrong).
"""

from __future__ import annotations

NAME = "data"
HELP = "write synthetic datasets in standard formats (folder, COCO, VOC, masks) and check dataset folders"

_DEFAULT_FORMAT = {"classification": "folder", "segmentation": "masks", "detection": "coco", "pose": "coco"}


def add_arguments(parser):
    from vras_keras.data.datasets import FORMATS, SPLITS, TASKS

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = sub.add_parser("make", help="generate ShapesWorld data and write it in a standard format")
    make.add_argument("--task", choices=TASKS, required=True)
    make.add_argument("--format", choices=FORMATS, help="default: folder / masks / coco / coco by task")
    make.add_argument("--num", type=int, default=500, help="training samples (default 500)")
    make.add_argument("--num-val", type=int, help="validation samples (default num // 5, at least 1)")
    make.add_argument("--out", required=True, help="output folder (gets train/ and val/)")
    make.add_argument("--image-size", type=int, default=64)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--split", choices=(*SPLITS, "both"), default="both",
                      help="write only this split into OUT (default: train and val into OUT/train, OUT/val)")
    make.add_argument("--max-objects", type=int, help="objects per image (ShapesWorld)")

    check = sub.add_parser("check", help="load a dataset folder and report its size, classes and bad samples")
    check.add_argument("source")
    check.add_argument("--task", choices=TASKS,
                       help="default: the only task of the folder's format (folder: classification, masks: "
                            "segmentation); needed for COCO and VOC")
    check.add_argument("--format", choices=FORMATS)
    check.add_argument("--split", choices=SPLITS, default="train")
    check.add_argument("--skip-bad", action="store_true", help="skip bad samples instead of failing")


def make(task, fmt, *, out, num, num_val=None, image_size=64, seed=0, split="both", max_objects=None) -> dict:
    """Write the data; returns {split: (folder, number of samples)}."""
    import os

    from vras_keras.data import datasets, formats
    from vras_keras.data.shapes import CLASS_NAMES

    fmt = fmt or _DEFAULT_FORMAT[task]
    if task not in datasets.FORMAT_TASKS[fmt]:
        raise ValueError(f"format {fmt!r} holds {', '.join(datasets.FORMAT_TASKS[fmt])} data, not {task!r}")
    if num < 1:
        raise ValueError(f"--num must be >= 1, received {num}")
    kwargs = {} if max_objects is None or task == "pose" else {"max_objects": max_objects}
    class_names = ("figure",) if task == "pose" else CLASS_NAMES
    if split == "both":
        plan = {"train": (os.path.join(out, "train"), num),
                "val": (os.path.join(out, "val"), max(1, num // 5) if num_val is None else num_val)}
    else:
        plan = {split: (out, num)}
    written = {}
    for name, (folder, count) in plan.items():
        records = datasets.synthetic_records(task, num_samples=count, image_size=image_size, seed=seed,
                                             split=name, **kwargs)
        written[name] = (folder, formats.get(fmt).write(folder, task, records, class_names=class_names))
    return written


def run(args) -> int:
    if args.action == "make":
        written = make(args.task, args.format, out=args.out, num=args.num, num_val=args.num_val,
                       image_size=args.image_size, seed=args.seed, split=args.split, max_objects=args.max_objects)
        fmt = args.format or _DEFAULT_FORMAT[args.task]
        for split, (folder, n) in written.items():
            print(f"wrote {n} {args.task} samples ({split}) in {fmt} format to {folder}")
        return 0
    import os

    import numpy as np

    from vras_keras.data import datasets

    task = args.task
    if task is None:
        folder = os.path.join(args.source, args.split) if os.path.isdir(os.path.join(args.source, args.split)) \
            else args.source
        fmt = args.format or datasets.detect_format(folder)
        if len(datasets.FORMAT_TASKS[fmt]) > 1:
            raise ValueError(f"{args.source} is in {fmt} format, which holds {', '.join(datasets.FORMAT_TASKS[fmt])} "
                             "data: pass --task")
        task = datasets.FORMAT_TASKS[fmt][0]
    records = datasets.read_records(task, args.source, format=args.format, split=args.split,
                                    skip_bad=args.skip_bad)
    print(f"{len(records.samples)} samples, {len(records.class_names)} classes: {', '.join(records.class_names)}")
    if records.samples:
        sizes = {datasets._record_shape(r) for r in records.samples}
        channels = datasets.infer_channels(records.samples)
        size = datasets.infer_image_size(records.samples)
        print(
            "image size: "
            + (f"{size[1]}x{size[0]} px (all images)" if size else f"{len(sizes)} different sizes: set data.image_size")
            + f", {channels} channel(s)"
        )
        if task == "classification":
            counts = np.bincount([r["label"] for r in records.samples], minlength=len(records.class_names))
            print("per class: " + ", ".join(f"{n} {c}" for n, c in zip(records.class_names, counts)))
    if records.skipped:
        print(f"skipped {records.num_skipped} bad samples:")
        for error in records.skipped:
            print(f"  {error}")
    return 0
