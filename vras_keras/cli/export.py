"""`vras export (RUN_DIR | --model ID) --name NAME`: SavedModel (TF Serving layout) + TFLite, with parity checks."""

from __future__ import annotations

import os

NAME = "export"
HELP = "export a training run or a registered model to savedmodels/NAME/VERSION (SavedModel + TFLite)"


def _csv(choices):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            import argparse

            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {','.join(choices)}, received {text!r}"
            )
        return tuple(dict.fromkeys(items))

    return parse


def add_arguments(parser):
    parser.add_argument("run_dir", nargs="?", help="a `vras train` run folder (vras_meta.json, checkpoints/)")
    parser.add_argument("--model", help="a registered model id instead of a run (exported untrained)")
    parser.add_argument("--model-args", default="{}", help="JSON keyword arguments of the model builder")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which checkpoint of the run")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"),
                        help="matching (LIFT) only: the whole-image size of the exported model, e.g. your camera's "
                             "480 640 (default: the recipe's data.image_size); larger images also get LIFT's octaves")
    parser.add_argument("--name", required=True, help="served model name (savedmodels/NAME/)")
    parser.add_argument("--formats", type=_csv(("saved_model", "tflite")), default=("saved_model", "tflite"),
                        help="comma-separated: saved_model,tflite (default both)")
    parser.add_argument("--quantize", type=_csv(("none", "fp16", "int8")), default=("none",),
                        help="TFLite variants, comma-separated: none,fp16,int8 (default none)")
    parser.add_argument("--version", type=int, help="version number (default: the next free one; never overwrites)")
    parser.add_argument("--output-dir", default="savedmodels", help="TF Serving base folder (default savedmodels)")
    parser.add_argument("--calibration-images", type=int, default=200,
                        help="training images for int8 calibration (default 200)")
    parser.add_argument("--check", action="store_true", help="print a parity table Keras vs SavedModel vs TFLite")
    parser.add_argument("--check-images", type=int, default=32, help="validation images for --check (default 32)")
    parser.add_argument("--min-agreement", type=float, default=0.9,
                        help="--check fails (exit 2, the new version is removed) when a SavedModel / fp32 / fp16 "
                             "TFLite agreement with Keras is below this (default 0.9)")
    parser.add_argument("--min-int8-agreement", type=float, default=0.5,
                        help="the same for the int8 TFLite file (default 0.5)")


def run(args) -> int:
    import json

    from vras_keras.export import calibration, parity, sources
    from vras_keras.export.saved_model import export_saved_model

    if (args.run_dir is None) == (args.model is None):
        raise ValueError("give either a RUN_DIR or --model ID (not both)")
    try:
        model_args = json.loads(args.model_args)
    except json.JSONDecodeError as error:
        raise ValueError(f"--model-args must be a JSON object, received {args.model_args!r} ({error})") from None
    if not isinstance(model_args, dict):
        raise ValueError(f"--model-args must be a JSON object, received {args.model_args!r}")
    if args.run_dir:
        model, meta = sources.load_run(args.run_dir, args.checkpoint, args.image_size)
    else:
        model, meta = sources.build_registered(args.model, model_args, args.image_size)
    data = meta.extra.get("data") if isinstance(meta.extra.get("data"), dict) else None

    def images(split, n):
        return calibration.task_images(meta.task, split=split, num_samples=n, input_size=meta.input_size,
                                       channels=meta.input_channels, data=data)

    # Every image is read before anything is written: bad data never leaves a half-made export.
    representative = check_images = None
    if "tflite" in args.formats and "int8" in args.quantize:
        representative = calibration.representative_batches(images("train", args.calibration_images))
    if args.check:
        check_images = images("val", args.check_images)
    model_dir = os.path.join(args.output_dir, args.name)
    created = not os.path.exists(model_dir)
    try:
        result = export_saved_model(model, meta, args.output_dir, name=args.name, version=args.version,
                                    formats=args.formats, quantize=args.quantize, representative_data=representative)
    except BaseException:
        _remove_if_empty(model_dir, created)
        raise
    print(f"exported {meta.task} model {meta.model or model.name!r} to {result.path}")
    for f in result.files:
        print(f"  {f}")
    if args.check:
        try:
            report = parity.parity_report(model, meta, result.path, check_images)
        except BaseException:
            _remove_version(result.path, model_dir, created, args.output_dir)
            raise
        print()
        print(report.to_markdown())
        failed = [r for r in report.rows if r.backend != "keras" and r.agreement < (
            args.min_int8_agreement if "int8" in r.backend else args.min_agreement)]
        if failed:
            _remove_version(result.path, model_dir, created, args.output_dir)
            worst = ", ".join(f"{r.backend} {r.agreement:.3g}" for r in failed)
            raise ValueError(f"--check failed: {report.agreement_name} below --min-agreement "
                             f"{args.min_agreement:g} / --min-int8-agreement {args.min_int8_agreement:g} for "
                             f"{worst}; {result.path} was removed")
    return 0


def _remove_if_empty(model_dir: str, created: bool) -> None:
    """A model folder this command created and that holds nothing (a failed export) goes again."""
    if created and os.path.isdir(model_dir) and not os.listdir(model_dir):
        os.rmdir(model_dir)


def _remove_version(path: str, model_dir: str, created: bool, output_dir: str) -> None:
    import shutil

    from vras_keras.export.saved_model import write_models_config

    shutil.rmtree(path, ignore_errors=True)
    _remove_if_empty(model_dir, created)
    write_models_config(output_dir)
