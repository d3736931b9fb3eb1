"""Convolutional CRF: truncated Gaussian pairwise kernels and mean-field inference (keras.ops only).

Reference: Teichmann & Cipolla, Convolutional CRFs for Semantic Segmentation, BMVC 2019 (arXiv:1805.04777);
the energy is the one of Krähenbühl & Koltun's dense CRF (arXiv:1210.5644) used by DeepLab
(arXiv:1606.00915):

    E(x) = Σ_i ψ_u(x_i) + Σ_{i≠j} μ(x_i, x_j) [ w1 exp(−|p_i−p_j|²/2σα² − |I_i−I_j|²/2σβ²)
                                              + w2 exp(−|p_i−p_j|²/2σγ²) ]

with ψ_u = −log p (the unary logits up to a constant), positions p in pixels and colours I in the image's
units (0..255 for vras_keras models). ConvCRF keeps only the pairs inside a `filter_size`×`filter_size`
window, so a mean-field step is a locally connected "convolution" whose weights depend on the image.

Implementation notes (TFLite built-ins only, no `extract_patches`):

- The window is unfolded with one zero-padding and `filter_size²` static slices (STRIDED_SLICE); a
  neighbour outside the image has zero marginals after padding, so it sends no message and no validity
  mask is needed.
- At `blur = b > 1` the marginals and the image are average-pooled by `b` ("same" padding, padded cells
  excluded), messages are computed on that coarse grid where neighbouring cells are `b` pixels apart, and
  bilinearly resized back (RESIZE_BILINEAR).
- At `blur = 1` the centre tap is excluded (no pixel sends a message to itself, as in the dense CRF); at
  `blur > 1` it is kept, because the centre cell stands for the other pixels of the cell.
- Potts compatibility μ(l, l') = [l ≠ l'] gives logits = unary + message (up to a per-pixel constant);
  a learned compatibility matrix C gives logits = unary − message @ C.
"""

from __future__ import annotations

from keras import ops


def window_offsets(filter_size: int, include_centre: bool) -> list[tuple[int, int]]:
    """The `(dy, dx)` offsets of a `filter_size`×`filter_size` window (row-major)."""
    span = filter_size // 2
    return [
        (dy, dx)
        for dy in range(-span, span + 1)
        for dx in range(-span, span + 1)
        if include_centre or (dy, dx) != (0, 0)
    ]


def _shifted(padded, dy: int, dx: int, span: int):
    """`padded` (zero-padded by `span`) read at `(y + dy, x + dx)` for every pixel, as static slices."""
    y0, x0 = span + dy, span + dx
    y1, x1 = dy - span, dx - span  # negative end offsets; 0 means "to the end"
    return padded[:, y0 : (y1 or None), x0 : (x1 or None), :]


def _pad(x, span: int):
    return ops.pad(x, ((0, 0), (span, span), (span, span), (0, 0)))


def pairwise_kernels(
    image,
    *,
    filter_size: int,
    appearance_weight,
    appearance_position_sigma,
    appearance_color_sigma,
    smoothness_weight,
    smoothness_sigma,
    spacing: int = 1,
    include_centre: bool = False,
):
    """Per-pixel weights of every window tap: `w1·appearance + w2·smoothness`.

    Args:
        image: `(N, h, w, C)` colour features (already pooled when blurring).
        filter_size: odd window size.
        appearance_weight, appearance_position_sigma, appearance_color_sigma, smoothness_weight,
            smoothness_sigma: scalars or scalar tensors (w1, σα, σβ, w2, σγ; sigmas in pixels / colour units).
        spacing: distance in pixels between neighbouring grid cells (the blur factor).
        include_centre: keep the `(0, 0)` tap.

    Returns:
        A list, one `(N, h, w, 1)` tensor per offset of `window_offsets(filter_size, include_centre)`.
    """
    span = filter_size // 2
    padded = _pad(image, span)
    inv_alpha = 0.5 / ops.square(appearance_position_sigma)
    inv_beta = 0.5 / ops.square(appearance_color_sigma)
    inv_gamma = 0.5 / ops.square(smoothness_sigma)
    kernels = []
    for dy, dx in window_offsets(filter_size, include_centre):
        distance2 = float(spacing * spacing * (dy * dy + dx * dx))
        colour2 = ops.sum(ops.square(image - _shifted(padded, dy, dx, span)), axis=-1, keepdims=True)
        appearance = ops.exp(-distance2 * inv_alpha - colour2 * inv_beta)
        smoothness = ops.exp(-distance2 * inv_gamma)
        kernels.append(appearance_weight * appearance + smoothness_weight * smoothness)
    return kernels


def message_passing(q, kernels, *, filter_size: int, include_centre: bool = False):
    """`Σ_taps kernel_tap · q(neighbour_tap)`: the truncated-window messages.

    Args:
        q: `(N, h, w, L)` marginals.
        kernels: from `pairwise_kernels` (same grid, same window).

    Returns:
        `(N, h, w, L)`.
    """
    span = filter_size // 2
    padded = _pad(q, span)
    message = None
    for (dy, dx), kernel in zip(window_offsets(filter_size, include_centre), kernels):
        term = kernel * _shifted(padded, dy, dx, span)
        message = term if message is None else message + term
    return message


def mean_field(
    unary,
    image,
    *,
    filter_size: int = 7,
    iterations: int = 5,
    appearance_weight=1.0,
    appearance_position_sigma=80.0,
    appearance_color_sigma=13.0,
    smoothness_weight=1.0,
    smoothness_sigma=3.0,
    blur: int = 1,
    compatibility=None,
):
    """Mean-field inference of the ConvCRF.

    Args:
        unary: `(N, H, W, L)` logits (−ψ_u up to a per-pixel constant).
        image: `(N, H, W, C)` image (same H, W), e.g. RGB in 0..255.
        filter_size: odd window size of the truncated kernels.
        iterations: mean-field steps (0 returns `softmax(unary)`).
        appearance_weight ... smoothness_sigma: w1, σα, σβ, w2, σγ (scalars or scalar tensors).
        blur: compute messages on a grid downsampled by this factor.
        compatibility: `None` for Potts, else an `(L, L)` matrix μ (Potts is `1 − I`).

    Returns:
        `(N, H, W, L)` class probabilities.
    """
    height, width = unary.shape[1], unary.shape[2]
    if blur > 1 and (height is None or width is None):
        raise ValueError(f"mean_field with blur > 1 needs a static height and width, received {unary.shape}")
    include_centre = blur > 1
    features = image if blur == 1 else ops.average_pool(image, blur, strides=blur, padding="same")
    kernels = pairwise_kernels(
        features,
        filter_size=filter_size,
        appearance_weight=appearance_weight,
        appearance_position_sigma=appearance_position_sigma,
        appearance_color_sigma=appearance_color_sigma,
        smoothness_weight=smoothness_weight,
        smoothness_sigma=smoothness_sigma,
        spacing=blur,
        include_centre=include_centre,
    )
    q = ops.softmax(unary, axis=-1)
    for _ in range(iterations):
        q_grid = q if blur == 1 else ops.average_pool(q, blur, strides=blur, padding="same")
        message = message_passing(q_grid, kernels, filter_size=filter_size, include_centre=include_centre)
        if blur > 1:
            message = ops.image.resize(message, (height, width), interpolation="bilinear")
        if compatibility is None:
            logits = unary + message
        else:
            logits = unary - ops.matmul(message, compatibility)
        q = ops.softmax(logits, axis=-1)
    return q
