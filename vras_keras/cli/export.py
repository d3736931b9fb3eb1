"""`vras export (RUN_DIR | --model ID) --name NAME`: SavedModel (TF Serving layout) + TFLite, with parity checks."""

from __future__ import annotations

NAME = "export"
HELP = "export a training run or a registered model to savedmodels/NAME/VERSION (SavedModel + TFLite)"


def _csv(choices):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            import argparse

            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(choices)}, received {text!r}")
        return tuple(dict.fromkeys(items))

    return parse


def add_arguments(parser):
    parser.add_argument("run_dir", nargs="?", help="a `vras train` run folder (vras_meta.json, checkpoints/)")
    parser.add_argument("--model", help="a registered model id instead of a run (exported untrained)")
    parser.add_argument("--model-args", default="{}", help="JSON keyword arguments of the model builder")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which checkpoint of the run")
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
        model, meta = sources.load_run(args.run_dir, args.checkpoint)
    else:
        model, meta = sources.build_registered(args.model, model_args)
    source = (meta.extra.get("data") or {}).get("source") if isinstance(meta.extra.get("data"), dict) else None

    def images(split, n):
        return calibration.task_images(meta.task, split=split, num_samples=n, input_size=meta.input_size,
                                       channels=meta.input_channels, source=source)

    representative = None
    if "tflite" in args.formats and "int8" in args.quantize:
        representative = calibration.representative_batches(images("train", args.calibration_images))
    result = export_saved_model(model, meta, args.output_dir, name=args.name, version=args.version,
                                formats=args.formats, quantize=args.quantize, representative_data=representative)
    print(f"exported {meta.task} model {meta.model or model.name!r} to {result.path}")
    for f in result.files:
        print(f"  {f}")
    if args.check:
        report = parity.parity_report(model, meta, result.path, images("val", args.check_images))
        print()
        print(report.to_markdown())
    return 0
