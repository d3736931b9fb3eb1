"""`vras predict PATH_TO_EXPORT IMAGE... [--draw OUT.png]`: run an export on image files."""

from __future__ import annotations

NAME = "predict"
HELP = "run an exported model (SavedModel folder or .tflite file) on image files; print or draw the result"


def add_arguments(parser):
    parser.add_argument("export", help="savedmodels/NAME[/VERSION] or a .tflite file")
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--backend", choices=("saved_model", "tflite"), help="default: SavedModel when present")
    parser.add_argument("--quantize", choices=("none", "fp16", "int8"), default="none",
                        help="which TFLite file of a folder (with --backend tflite)")
    parser.add_argument("--draw", metavar="OUT.png",
                        help="draw the results on the model's input, upscaled to about 384 px (one image: OUT.png; "
                             "several: OUT_0.png, OUT_1.png, ...)")
    parser.add_argument("--allow-unsafe-ops", action="store_true",
                        help="load a SavedModel even if its graph can touch files or run Python (only exports you "
                             "trust; see docs/export.md, 'What is safe to load')")


def run(args) -> int:
    import os

    import numpy as np
    from PIL import Image

    from vras_keras.cli._outputs import prepare_output_file
    from vras_keras.data.images import read_image
    from vras_keras.export import present
    from vras_keras.export.loading import load_export

    prepare_output_file("--draw", args.draw)
    arrays = []
    for path in args.images:
        arrays.append(read_image(path))
    predictor = load_export(args.export, backend=args.backend, quantize=args.quantize,
                            allow_unsafe_ops=args.allow_unsafe_ops)
    outputs = predictor.predict(arrays)
    meta = predictor.meta
    print(f"{predictor.backend} {predictor.path} ({meta.task}, input {meta.input_size[0]}x{meta.input_size[1]})")
    inputs = predictor.preprocess(arrays)
    for i, path in enumerate(args.images):
        print(f"{path}: {present.summarize(outputs, meta, i)}")
        if args.draw:
            root, ext = os.path.splitext(args.draw)
            out = args.draw if len(args.images) == 1 else f"{root}_{i}{ext or '.png'}"
            seen = np.clip(np.round(inputs[i]), 0, 255).astype(np.uint8)  # exactly what the model was given
            Image.fromarray(present.draw(seen, outputs, meta, i)).save(out)
            print(f"  drawn to {out}")
    return 0
