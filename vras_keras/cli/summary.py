"""`vras summary MODEL`: per-layer shapes, parameters, receptive field and FLOPs of a registered model."""

from __future__ import annotations

NAME = "summary"
HELP = "print a registered model's layers: output shape, parameters, receptive field, FLOPs, with totals"


def _parse_shape(text: str) -> tuple:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--input-shape must be H,W,C integers (e.g. 224,224,3), received {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"--input-shape must be three positive integers H,W,C, received {text!r}")
    return shape


def _parse_set(items) -> dict:
    import yaml

    kwargs = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE (e.g. --set groups=1), received {item!r}")
        key, value = item.split("=", 1)
        try:
            kwargs[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            from vras_keras.training.config import yaml_error_line

            raise ValueError(f"--set {item}: the value is not valid YAML: {yaml_error_line(error)}") from None
    return kwargs


def add_arguments(parser):
    parser.add_argument("model", help="registry id (see `vras list`)")
    parser.add_argument("--input-shape", help="H,W,C of the input (default: the builder's)")
    parser.add_argument("--format", default="table", choices=("table", "markdown", "csv", "json"))
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="builder keyword argument (YAML value), repeatable, e.g. --set groups=1 --set width=0.5")


def run(args) -> int:
    import inspect

    from vras_keras import models
    from vras_keras.analysis.summary import summary

    kwargs = _parse_set(args.set)
    entry = models.get_entry(args.model)
    if args.input_shape:
        kwargs["input_shape"] = _parse_shape(args.input_shape)
    accepted = inspect.signature(entry.builder).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(f"model {args.model!r} has no argument(s) {unknown}; it takes {sorted(accepted)}")
    model = entry.builder(**kwargs)
    print(summary(model).format(args.format), end="")
    return 0
