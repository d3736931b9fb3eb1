"""`vras landscape`: 1-D / 2-D loss landscapes around trained weights (Li et al., NeurIPS 2018)."""

from __future__ import annotations

NAME = "landscape"
HELP = "plot the loss landscape of a trained model along filter-normalised random directions"


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="registry id (see `vras list`) or a .keras file")
    parser.add_argument("--model-args", default="{}", help="JSON keyword arguments of the builder")
    parser.add_argument("--weights", help="trained weights: a .weights.h5 or .keras file")
    parser.add_argument("--grid", type=int, default=31, help="points per axis (default 31)")
    parser.add_argument("--range", dest="range_", type=float, default=1.0, help="half-width of the scan")
    parser.add_argument("--dim", type=int, choices=(1, 2), default=2, help="1-D curve or 2-D surface")
    parser.add_argument("--task", default="classification", help="dataset task (default classification)")
    parser.add_argument("--num", type=int, default=256, help="size of the fixed evaluation subset")
    parser.add_argument("--seed", type=int, default=0, help="seed of the directions and the data")
    parser.add_argument("--include-bias-bn", action="store_true", help="also move biases and BN parameters")
    parser.add_argument(
        "--loss", default=None, help="Keras loss name (default: sparse categorical cross-entropy from logits)"
    )
    parser.add_argument("--out", default="runs/landscape", help="output folder (npz + PNGs)")


def _load_model(args):
    import json
    from pathlib import Path

    from vras_keras import models

    if args.model.endswith(".keras"):
        if not Path(args.model).is_file():
            raise FileNotFoundError(f"--model: no file {args.model}")
        return models.load_model(args.model)
    try:
        kwargs = json.loads(args.model_args)
    except json.JSONDecodeError as error:
        raise ValueError(f"--model-args is not valid JSON ({error}): {args.model_args!r}") from None
    model = models.get(args.model, **kwargs)
    if args.weights:
        path = Path(args.weights)
        if not path.is_file():
            raise FileNotFoundError(f"--weights: no file {path}")
        if path.suffix == ".keras":
            model.set_weights(models.load_model(path).get_weights())
        elif path.name.endswith(".weights.h5"):
            model.load_weights(path)
        else:
            raise ValueError(f"--weights must be a .weights.h5 or .keras file, received {path.name}")
    return model


def run(args) -> int:
    import numpy as np

    from vras_keras.analysis import landscape
    from vras_keras.data import datasets

    model = _load_model(args)
    image_size = tuple(model.inputs[0].shape[1:3])
    ds = datasets.load(args.task, split="val", num_samples=args.num, image_size=image_size, seed=args.seed)
    xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in ds.as_numpy_iterator()])
    data = (np.stack(xs), np.stack(ys))
    kwargs = dict(range_=args.range_, seed=args.seed, include_bias_and_bn=args.include_bias_bn)
    if args.dim == 2:
        result = landscape.surface_2d(model, data, args.loss, grid=args.grid, **kwargs)
    else:
        result = landscape.curve_1d(model, data, args.loss, points=args.grid, **kwargs)
    paths = landscape.save(result, args.out, title=f"{args.model} loss landscape")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    if args.dim == 2:
        stats = landscape.curvature_stats(result)
        print("curvature: " + ", ".join(f"{k}={v:.3f}" for k, v in stats.items()))
    return 0
