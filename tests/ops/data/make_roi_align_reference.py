"""Regenerate roi_align_reference.npz with torchvision (not a test dependency: run once, by hand).

    python -m venv /work/torchenv && /work/torchenv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    /work/torchenv/bin/python tests/ops/data/make_roi_align_reference.py

Inputs are made by `reference_inputs()` (NumPy only, shared with the tests); outputs by
`torchvision.ops.roi_align` in float32 on the CPU (NCHW, stored channels-last). The boxes include
[-3, 0, 12, 16], whose sampling points land at x = -1 in exact arithmetic; torchvision's float32 formula
`roi_start + p * bin + (i + 0.5) * bin / s` puts some just below -1 and drops them (issue #20).
"""

from pathlib import Path

import numpy as np

# (H, W) of the map: the 16 x 9 case, and the transposed one (the same box then lands at y = -1)
MAP_SIZES = ((16, 9), (9, 16))
OUTPUT_SIZES = (3, 5, 7, 9)
SAMPLING_RATIO = 3


def reference_inputs():
    rng = np.random.default_rng(20)
    inputs = {}
    for h, w in MAP_SIZES:
        inputs[f"features_{h}x{w}"] = rng.normal(0, 1, (1, h, w, 2)).astype("float32")
    boxes = [[-3, 0, 12, 16], [0, -3, 16, 12], [-2.5, -1.25, 7.75, 10.5], [1.3, 2.7, 5.1, 6.9]]
    xy = rng.uniform(-4, 12, (6, 2))
    boxes += np.concatenate([xy, xy + rng.uniform(1, 10, (6, 2))], 1).tolist()
    inputs["boxes"] = np.asarray(boxes, "float32")
    return inputs


def main():
    import torch
    import torchvision

    x = reference_inputs()
    out = {}
    rois = torch.cat([torch.zeros(len(x["boxes"]), 1), torch.from_numpy(x["boxes"])], 1)
    for h, w in MAP_SIZES:
        features = torch.from_numpy(x[f"features_{h}x{w}"].transpose(0, 3, 1, 2).copy())
        for size in OUTPUT_SIZES:
            y = torchvision.ops.roi_align(features, rois, output_size=size, spatial_scale=1.0,
                                          sampling_ratio=SAMPLING_RATIO, aligned=True)
            out[f"roi_align_{h}x{w}_{size}"] = y.numpy().transpose(0, 2, 3, 1)
    np.savez_compressed(Path(__file__).with_name("roi_align_reference.npz"), **out)
    print(f"wrote {len(out)} arrays, torch {torch.__version__}, torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
