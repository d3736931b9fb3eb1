"""Pure tensor functions on `keras.ops` (shapes and formats in each docstring)."""
from vras_keras.ops import soft_argmax
from vras_keras.ops.sampling import affine_grid, bilinear_sample, grid_sample, normalize_coordinates, unnormalize_coordinates
from vras_keras.ops.transforms import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta
from vras_keras.ops.sampling import affine_grid, bilinear_sample, grid_sample, normalize_coordinates, unnormalize_coordinates
from vras_keras.ops.transforms import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta
from vras_keras.ops import soft_argmax
from vras_keras.ops.normalization import local_response_normalization
from vras_keras.ops import boxes  # noqa: F401
from vras_keras.ops import anchors  # noqa: F401
from vras_keras.ops import nms  # noqa: F401
from vras_keras.ops.normalization import local_response_normalization
from vras_keras.ops import roi_align  # noqa: F401
from vras_keras.ops.sampling import affine_grid, bilinear_sample, grid_sample, normalize_coordinates, unnormalize_coordinates
from vras_keras.ops.transforms import TRANSFORMS, identity_parameters, num_transform_parameters, transform_to_theta
from vras_keras.ops import keypoints
