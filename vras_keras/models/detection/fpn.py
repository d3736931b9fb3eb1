"""Feature Pyramid Network: the top-down pathway with lateral connections on backbone levels C2..C5.

Reference: Lin et al., Feature Pyramid Networks for Object Detection, CVPR 2017 (arXiv:1612.03144),
section 3; P6 as in Faster R-CNN with FPN (section 4.1: a stride-2 subsampling of P5, for the RPN only).
"""

from __future__ import annotations

import keras


def fpn(features, filters, *, name="fpn"):
    """Feature Pyramid Network top-down pathway.

    Args:
        features: `{"C2": t, ..., "C5": t}` backbone maps (C_k at stride 2**k; consecutive levels).
        filters: channels of every P level (256 in the paper).
        name: prefix of the layer names (`{name}_lateral{k}`, `{name}_upsample{k}`, `{name}_merge{k}`,
            `{name}_output{k}`, `{name}_p{k+1}`).

    Returns:
        `[P2, ..., P5, P6]`: 3x3-smoothed merged maps, and P6 = stride-2 subsampling of P5 (1x1 max-pool,
        `ceil(size / 2)` cells, so a P5 of odd size is fine).
    """
    levels = sorted(int(k[1:]) for k in features)
    laterals = {k: keras.layers.Conv2D(filters, 1, name=f"{name}_lateral{k}")(features[f"C{k}"]) for k in levels}
    merged = {levels[-1]: laterals[levels[-1]]}
    for k in reversed(levels[:-1]):
        up = keras.layers.UpSampling2D(2, name=f"{name}_upsample{k}")(merged[k + 1])
        merged[k] = keras.layers.Add(name=f"{name}_merge{k}")([up, laterals[k]])
    outputs = [keras.layers.Conv2D(filters, 3, padding="same", name=f"{name}_output{k}")(merged[k]) for k in levels]
    outputs.append(keras.layers.MaxPooling2D(1, strides=2, name=f"{name}_p{levels[-1] + 1}")(outputs[-1]))
    return outputs


__all__ = ["fpn"]
