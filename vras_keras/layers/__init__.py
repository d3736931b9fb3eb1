"""Custom Keras layers (each serializable, differentiable and convertible to TFLite built-ins)."""

from vras_keras.layers.anchors import AnchorGenerator, YoloDecode
from vras_keras.layers.aspp import ASPP
from vras_keras.layers.batch_normalization import FusedBatchNormalization
from vras_keras.layers.bilinear import BilinearUpsampling, bilinear_kernel
from vras_keras.layers.conv_crf import ConvCRF
from vras_keras.layers.conv_norm_act import (
    BN_EPSILON,
    BN_MOMENTUM,
    batch_norm,
    conv_norm_act,
    image_input,
    set_input_normalization,
    symmetric_pad,
)
from vras_keras.layers.detection_decoder import DetectionDecoder
from vras_keras.layers.keypoints import GaussianBlur, KeypointNMS, OrientationAngle, OrientedPatches
from vras_keras.layers.local_response_normalization import LocalResponseNormalization
from vras_keras.layers.roi_align import KeptDetections, PasteMasks, RoIAlign
from vras_keras.layers.soft_argmax import HeatmapArgmax2D, SoftArgmax2D, SoftArgmax3D
from vras_keras.layers.spatial_transformer import AffineGrid, GridSample, SpatialTransformer, default_localization
from vras_keras.layers.squeeze_excite import SqueezeExcite
from vras_keras.layers.unpooling import MaxPoolingWithArgmax2D, MaxUnpooling2D
from vras_keras.layers.zero_pad_shortcut import ZeroPadShortcut
