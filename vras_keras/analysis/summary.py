"""Architecture analyser: per-layer output shape, parameters, receptive field and FLOPs of a Keras model.

`summary(model)` walks the functional graph in topological order (every call of a layer is a row), so
branching graphs are handled: where paths merge (Inception / DenseNet concatenation, residual addition)
the receptive field is the largest over the inputs.

Receptive field (per spatial axis, in input pixels; Araujo et al., Distill 2019, "Computing receptive
fields of convolutional neural networks"): with effective kernel `k' = d (k - 1) + 1`, stride `s` and left
padding `p`,

    size_out  = size_in + (k' - 1) * jump_in
    jump_out  = jump_in * s
    start_out = start_in + ((k' - 1) / 2 - p) * jump_in

`start` is the centre of the receptive field of the first output position, in input pixel coordinates
whose first pixel centre is 0.5. "same" padding uses TensorFlow's rule (extra pad on the right/bottom).
Global pooling, Flatten, Dense and Squeeze-and-Excitation see the whole input (size = the whole extent).

Cost: `macs` counts multiply-accumulates, `flops = 2 * macs`:
    conv      H_out W_out C_out · k_h k_w C_in / groups     (depthwise: H_out W_out C_out · k_h k_w)
    dense     (leading dims) · in · out
    pooling   output elements · window size (global pooling: input elements)
    elementwise (BN, activations, rescaling, add/multiply, concatenation is free) one per output element
              per operand beyond the first (BN counts 1: it folds into a fused multiply-add).
The usual "GMACs" of the literature count only conv and dense layers: see `ArchitectureSummary.conv_dense_macs`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import keras
import numpy as np

FORMATS = ("table", "markdown", "csv", "json")


@dataclasses.dataclass
class RF:
    """Receptive field along each spatial axis (tuples of the same length as the spatial rank)."""

    size: tuple
    jump: tuple
    start: tuple


@dataclasses.dataclass
class LayerRow:
    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    rf_size: tuple | None
    rf_jump: tuple | None
    rf_start: tuple | None
    macs: int | None
    inputs: list

    @property
    def flops(self):
        return None if self.macs is None else 2 * self.macs

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "rf_size": None if self.rf_size is None else list(self.rf_size),
            "rf_jump": None if self.rf_jump is None else list(self.rf_jump),
            "rf_start": None if self.rf_start is None else list(self.rf_start),
            "macs": self.macs,
            "flops": self.flops,
            "inputs": list(self.inputs),
        }


@dataclasses.dataclass
class ArchitectureSummary:
    model_name: str
    rows: list

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def row(self, name: str) -> LayerRow:
        """The (first) row of layer `name`; a ValueError lists close names if there is none."""
        for r in self.rows:
            if r.name == name:
                return r
        import difflib

        close = difflib.get_close_matches(name, [r.name for r in self.rows], n=5)
        raise ValueError(f"no layer {name!r} in {self.model_name!r}" + (f"; did you mean {close}?" if close else ""))

    @property
    def total_params(self) -> int:
        return _unique_params(self.rows)[0]

    @property
    def trainable_params(self) -> int:
        return _unique_params(self.rows)[1]

    @property
    def macs(self) -> int:
        return int(sum(r.macs or 0 for r in self.rows))

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def conv_dense_macs(self) -> int:
        """MACs of conv / depthwise / separable / transposed conv and dense layers only (the literature's GMACs)."""
        return int(sum(r.macs or 0 for r in self.rows if r.type in _WEIGHTED_TYPES))

    def totals(self) -> dict:
        return {
            "params": self.total_params,
            "trainable_params": self.trainable_params,
            "macs": self.macs,
            "flops": self.flops,
            "conv_dense_macs": self.conv_dense_macs,
        }

    def format(self, fmt: str = "table") -> str:
        """Render as `table` (aligned text), `markdown`, `csv` or `json`, totals included."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, received {fmt!r}")
        if fmt == "json":
            return json.dumps({"model": self.model_name, "layers": [r.as_dict() for r in self.rows],
                               "totals": self.totals()}, indent=1)
        header = ["layer", "type", "output shape", "params", "RF size", "RF jump", "RF start", "MACs", "FLOPs"]
        body = [
            [r.name, r.type, _shape_str(r.output_shape), f"{r.params:,}", _axes_str(r.rf_size), _axes_str(r.rf_jump),
             _axes_str(r.rf_start), _count_str(r.macs), _count_str(r.flops)]
            for r in self.rows
        ]
        t = self.totals()
        total = ["total", "", "", f"{t['params']:,}", "", "", "", _count_str(t["macs"]), _count_str(t["flops"])]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            for r in self.rows:
                writer.writerow([r.name, r.type, _shape_str(r.output_shape), r.params, _axes_str(r.rf_size),
                                 _axes_str(r.rf_jump), _axes_str(r.rf_start), r.macs if r.macs is not None else "",
                                 r.flops if r.flops is not None else ""])
            writer.writerow(["total", "", "", t["params"], "", "", "", t["macs"], t["flops"]])
            return out.getvalue()
        footer = (
            f"{self.model_name}: {t['params']:,} parameters ({t['trainable_params']:,} trainable), "
            f"{t['macs'] / 1e9:.3f} GMACs = {t['flops'] / 1e9:.3f} GFLOPs "
            f"(conv + dense only: {t['conv_dense_macs'] / 1e9:.3f} GMACs)"
        )
        if fmt == "markdown":
            lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body + [total]]
            return "\n".join(lines) + "\n\n" + footer + "\n"
        widths = [max(len(row[i]) for row in [header] + body + [total]) for i in range(len(header))]
        right = {3, 4, 5, 6, 7, 8}

        def line(cells):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "-" * len(line(header))
        return "\n".join([line(header), rule] + [line(b) for b in body] + [rule, line(total), footer]) + "\n"

    def __str__(self):
        return self.format("table")


# --------------------------------------------------------------------------------------------- helpers
_CONV_TYPES = ("Conv1D", "Conv2D", "Conv3D")
_WEIGHTED_TYPES = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
                   "SeparableConv2D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Dense", "EinsumDense")
_POOL_TYPES = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
               "AveragePooling3D")
_GLOBAL_TYPES = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
                 "GlobalMaxPooling2D", "GlobalMaxPooling3D", "Flatten", "SqueezeExcite")
_MERGE_TYPES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
_FREE_TYPES = ("InputLayer", "Concatenate", "Reshape", "Permute", "Dropout", "SpatialDropout2D", "Identity",
               "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
               "GaussianNoise", "GaussianDropout", "ActivityRegularization")


def _unique_params(rows):
    seen, total, trainable = set(), 0, 0
    for r in rows:
        key = r.name.split("#")[0]
        if key not in seen:
            seen.add(key)
            total += r.params
            trainable += r.trainable_params
    return total, trainable


def _shape_str(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def _axes_str(values):
    if values is None:
        return "-"
    values = [int(v) if float(v).is_integer() else round(float(v), 2) for v in values]
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


def _count_str(n):
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


def _tuple(value, rank):
    if isinstance(value, int):
        return (value,) * rank
    return tuple(value)


def _prod(values) -> int | None:
    if any(v is None for v in values):
        return None
    return int(np.prod(values, dtype=np.int64)) if len(values) else 1


def _weights_count(layer, trainable_only=False):
    weights = layer.trainable_weights if trainable_only else layer.weights
    return int(sum(np.prod(w.shape) for w in weights))


def _same_pad_left(n, k_eff, s):
    if n is None:
        return (k_eff - 1) // 2
    out = math.ceil(n / s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2


def _window_rf(rf, in_spatial, kernel, strides, dilation, padding):
    sizes, jumps, starts = [], [], []
    for i, (r, j, st) in enumerate(zip(rf.size, rf.jump, rf.start)):
        k_eff = dilation[i] * (kernel[i] - 1) + 1
        pad = _same_pad_left(in_spatial[i], k_eff, strides[i]) if padding == "same" else 0
        sizes.append(r + (k_eff - 1) * j)
        jumps.append(j * strides[i])
        starts.append(st + ((k_eff - 1) / 2 - pad) * j)
    return RF(tuple(sizes), tuple(jumps), tuple(starts))


def _whole(rf, in_spatial):
    """The receptive field after an operation that sees the whole input extent."""
    if rf is None:
        return None
    sizes, starts = [], []
    for r, j, st, n in zip(rf.size, rf.jump, rf.start, in_spatial):
        if n is None:
            sizes.append(r)
            starts.append(st)
        else:
            sizes.append(r + (n - 1) * j)
            starts.append(st + (n - 1) * j / 2)
    return RF(tuple(sizes), tuple(j * (n or 1) for j, n in zip(rf.jump, in_spatial)), tuple(starts))


def _largest(rfs):
    rfs = [r for r in rfs if r is not None]
    if not rfs:
        return None
    return max(rfs, key=lambda r: (np.prod(r.size), -np.prod(r.jump)))


def _layer_cost_and_rf(layer, in_shapes, out_shapes, in_rfs):
    """(macs, rf) of one call of `layer`."""
    kind = type(layer).__name__
    x_shape = in_shapes[0] if in_shapes else None
    y_shape = out_shapes[0]
    rf = _largest(in_rfs)
    rank = len(y_shape) - 2 if len(y_shape) >= 3 else 0
    in_spatial = tuple(x_shape[1:-1]) if x_shape is not None and len(x_shape) >= 3 else ()
    out_elems = _prod(y_shape[1:])

    if kind in _WEIGHTED_TYPES and kind != "Dense" and kind != "EinsumDense" and rank:
        kernel = _tuple(layer.kernel_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        cin = x_shape[-1]
        out_spatial = _prod(y_shape[1:-1])
        k = _prod(kernel)
        if "Transpose" in kind:
            macs = None if _prod(in_spatial) is None else _prod(in_spatial) * cin * k * y_shape[-1]
            if rf is not None:  # each output sees ceil(k / s) inputs, spaced by the input jump
                rf = RF(
                    tuple(r + (math.ceil(kk / s) - 1) * j for r, j, kk, s in zip(rf.size, rf.jump, kernel, strides)),
                    tuple(j / s for j, s in zip(rf.jump, strides)),
                    rf.start,
                )
            return macs, rf
        if kind.startswith("Depthwise"):
            macs = None if out_spatial is None else out_spatial * y_shape[-1] * k
        elif kind.startswith("Separable"):
            mult = layer.depth_multiplier
            macs = None if out_spatial is None else out_spatial * (cin * mult * k + cin * mult * y_shape[-1])
        else:
            groups = getattr(layer, "groups", 1)
            macs = None if out_spatial is None else out_spatial * y_shape[-1] * k * cin // groups
        if rf is not None:
            rf = _window_rf(rf, in_spatial, kernel, strides, dilation, layer.padding)
        return macs, rf
    if kind in ("Dense", "EinsumDense"):
        weights = layer.kernel.shape
        lead = _prod(y_shape[1:-1]) if len(y_shape) > 2 else 1
        macs = None if lead is None else lead * int(np.prod(weights))
        return macs, rf  # Dense acts per position on the last axis
    if kind in _POOL_TYPES:
        kernel = _tuple(layer.pool_size, rank)
        strides = _tuple(layer.strides, rank)
        macs = None if out_elems is None else out_elems * _prod(kernel)
        if rf is not None:
            rf = _window_rf(rf, in_spatial, kernel, strides, (1,) * rank, layer.padding)
        return macs, rf
    if kind in _GLOBAL_TYPES:
        in_elems = _prod(x_shape[1:])
        macs = in_elems if kind != "Flatten" else 0
        if kind == "SqueezeExcite":
            c = x_shape[-1]
            macs = None if in_elems is None else 2 * in_elems + 2 * c * layer.units
        if rf is not None and in_spatial:
            rf = _whole(rf, in_spatial)
        return macs, rf
    if kind == "ZeroPadShortcut":
        if rf is not None:
            rf = _window_rf(rf, in_spatial, (1,) * rank, (layer.strides,) * rank, (1,) * rank, "valid")
        return 0, rf
    if kind in ("ZeroPadding2D", "ZeroPadding1D", "ZeroPadding3D") and rf is not None:
        pads = [p[0] for p in layer.padding]
        return 0, RF(rf.size, rf.jump, tuple(s - p * j for s, p, j in zip(rf.start, pads, rf.jump)))
    if kind in ("Cropping2D", "Cropping1D", "Cropping3D") and rf is not None:
        crops = [c[0] for c in layer.cropping]
        return 0, RF(rf.size, rf.jump, tuple(s + c * j for s, c, j in zip(rf.start, crops, rf.jump)))
    if kind == "UpSampling2D" and rf is not None:
        size = _tuple(layer.size, rank)
        return 0, RF(rf.size, tuple(j / s for j, s in zip(rf.jump, size)),
                     tuple(st - (s - 1) / (2 * s) * j for st, s, j in zip(rf.start, size, rf.jump)))
    if kind in _FREE_TYPES:
        return 0, rf
    if kind in _MERGE_TYPES:
        return (None if out_elems is None else out_elems * (len(in_shapes) - 1)), rf
    # Elementwise by default (BN, activations, Rescaling, LRN, custom per-position layers): one MAC per output
    # element if the spatial size is unchanged; otherwise the receptive field is unknown.
    if rank and in_spatial and tuple(y_shape[1:-1]) != in_spatial:
        return None, None
    return out_elems, rf


def summary(model: keras.Model) -> ArchitectureSummary:
    """Analyse a functional (or Sequential) Keras model layer by layer.

    Args:
        model: a built functional or Sequential model; spatial sizes must be static for FLOPs and exact
            "same"-padding offsets (None sizes give `macs=None`).

    Returns:
        An `ArchitectureSummary`: `.rows` (one `LayerRow` per layer call, in topological order, with name,
        type, output shape, params, trainable params, receptive field size / jump / start per spatial axis,
        MACs and FLOPs), `.row(name)`, `.totals()` and `.format("table"|"markdown"|"csv"|"json")`.

    Example:
    >>> s = summary(vras_keras.models.get("alexnet", groups=1))
    >>> s.row("conv1_conv").output_shape, s.row("conv1_conv").params
    ((None, 55, 55, 96), 34944)
    """
    if isinstance(model, keras.Sequential):
        model = model._functional  # a Sequential model wraps a functional graph
    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if nodes_by_depth is None:
        raise TypeError(
            f"summary needs a functional or Sequential keras.Model, received {type(model).__name__} "
            f"(subclassed models have no static graph)"
        )
    rf_of, name_of, rows, calls = {}, {}, [], {}
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            layer = node.operation
            ins = list(node.input_tensors)
            outs = list(node.output_tensors)
            in_shapes = [tuple(t.shape) for t in ins]
            out_shapes = [tuple(t.shape) for t in outs]
            if not ins:  # an input
                spatial = len(out_shapes[0]) - 2
                rf = RF((1,) * spatial, (1,) * spatial, (0.5,) * spatial) if spatial > 0 else None
                macs = 0
            else:
                macs, rf = _layer_cost_and_rf(layer, in_shapes, out_shapes, [rf_of.get(id(t)) for t in ins])
            k = calls.get(layer.name, 0)
            calls[layer.name] = k + 1
            row_name = layer.name if k == 0 else f"{layer.name}#{k + 1}"
            for t in outs:
                rf_of[id(t)] = rf
                name_of[id(t)] = row_name
            rows.append(
                LayerRow(
                    name=row_name,
                    type=type(layer).__name__,
                    output_shape=out_shapes[0] if len(out_shapes) == 1 else tuple(out_shapes),
                    params=_weights_count(layer) if k == 0 else 0,
                    trainable_params=_weights_count(layer, trainable_only=True) if k == 0 else 0,
                    rf_size=None if rf is None else rf.size,
                    rf_jump=None if rf is None else rf.jump,
                    rf_start=None if rf is None else rf.start,
                    macs=None if macs is None else int(macs),
                    inputs=[name_of.get(id(t), "?") for t in ins],
                )
            )
    return ArchitectureSummary(model.name, rows)


