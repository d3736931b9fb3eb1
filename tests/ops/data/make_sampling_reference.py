"""Regenerate sampling_reference.npz with PyTorch (not a test dependency: run once, by hand).

    python -m venv /tmp/torchref && /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python tests/ops/data/make_sampling_reference.py

(last run with torch 2.14.1, which added the size-1 `affine_grid` cases; the other arrays were unchanged.)

Inputs are made by `reference_inputs()` (NumPy only, shared with the tests), outputs by
`torch.nn.functional.affine_grid` / `grid_sample` in NCHW / NCDHW, stored channels-last.
"""

import itertools
from pathlib import Path

import numpy as np

# output shapes with size-1 axes for the affine_grid references
UNIT_SIZES = {2: ((1, 6), (5, 1), (1, 1)), 3: ((1, 4, 5), (3, 1, 1), (1, 1, 1))}


def reference_inputs():
    rng = np.random.default_rng(7)
    inputs = {
        "image2d": rng.uniform(-1, 1, (2, 5, 6, 3)).astype("float32"),
        "image3d": rng.uniform(-1, 1, (2, 3, 4, 5, 2)).astype("float32"),
        # Points inside, on the corners, half a pixel out and far out (reflection folds several times).
        "grid2d": rng.uniform(-2.7, 2.7, (2, 7, 8, 2)).astype("float32"),
        "grid3d": rng.uniform(-2.2, 2.2, (2, 3, 4, 5, 3)).astype("float32"),
        "theta2d": (np.eye(2, 3) + rng.normal(0, 0.3, (2, 2, 3))).astype("float32"),
        "theta3d": (np.eye(3, 4) + rng.normal(0, 0.3, (2, 3, 4))).astype("float32"),
        "upstream2d": rng.normal(0, 1, (2, 7, 8, 3)).astype("float32"),
        "upstream3d": rng.normal(0, 1, (2, 3, 4, 5, 2)).astype("float32"),
    }
    inputs["grid2d"][0, 0, :5] = [[-1, -1], [1, 1], [-1, 1], [1, -1], [0, 0]]
    inputs["grid3d"][0, 0, 0, :3] = [[-1, -1, -1], [1, 1, 1], [0, 0, 0]]
    return inputs


def main():
    import torch
    import torch.nn.functional as F

    torch.set_default_dtype(torch.float64)
    x = reference_inputs()
    out = {}
    for rank, perm_in, perm_out in ((2, (0, 3, 1, 2), (0, 2, 3, 1)), (3, (0, 4, 1, 2, 3), (0, 2, 3, 4, 1))):
        image = torch.tensor(x[f"image{rank}d"].transpose(perm_in), dtype=torch.float64, requires_grad=True)
        grid = torch.tensor(x[f"grid{rank}d"], dtype=torch.float64, requires_grad=True)
        up = torch.tensor(x[f"upstream{rank}d"].transpose(perm_in), dtype=torch.float64)
        for mode, pad, ac in itertools.product(
            ("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True)
        ):
            key = f"{rank}d_{mode}_{pad}_{int(ac)}"
            y = F.grid_sample(image, grid, mode=mode, padding_mode=pad, align_corners=ac)
            gi, gg = torch.autograd.grad((y * up).sum(), (image, grid))
            out[f"out_{key}"] = y.detach().numpy().transpose(perm_out).astype("float32")
            out[f"dimage_{key}"] = gi.numpy().transpose(perm_out).astype("float32")
            out[f"dgrid_{key}"] = gg.numpy().astype("float32")
        theta = torch.tensor(x[f"theta{rank}d"], dtype=torch.float64)
        size = (2, 3, 5, 6) if rank == 2 else (2, 2, 3, 4, 5)
        for ac in (False, True):
            out[f"affine_grid_{rank}d_{int(ac)}"] = (
                F.affine_grid(theta, size, align_corners=ac).numpy().astype("float32")
            )
            # size-1 axes: PyTorch puts their single coordinate at 0 (not -1), with either align_corners
            for shape in UNIT_SIZES[rank]:
                key = f"affine_grid_{rank}d_{int(ac)}_" + "x".join(map(str, shape))
                out[key] = F.affine_grid(theta, (2, 1) + shape, align_corners=ac).numpy().astype("float32")
    np.savez_compressed(Path(__file__).with_name("sampling_reference.npz"), **out)
    print(f"wrote {len(out)} arrays, torch {torch.__version__}")


if __name__ == "__main__":
    main()
