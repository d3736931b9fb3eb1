"""Pure tensor functions on `keras.ops` (shapes and formats in each docstring)."""
from vras_keras.ops import anchors, boxes, keypoints, nms, roi_align, soft_argmax
from vras_keras.ops.normalization import local_response_normalization
from vras_keras.ops.sampling import (
    affine_grid,
    bilinear_sample,
    grid_sample,
    normalize_coordinates,
    unnormalize_coordinates,
)
from vras_keras.ops.transforms import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta
