"""Pairs of views of real photographs under known homographies, and LIFT training quadruplets.

The photographs are every real photograph shipped inside the installed packages: scikit-image
(`skimage.data`), scikit-learn (`sklearn.datasets.load_sample_image`) and matplotlib (its `grace_hopper.jpg`
sample), so nothing is downloaded.
Each pair is two crops of one photograph seen through two random homographies (rotation, scale,
perspective, translation, and with `max_tilt` an out-of-plane rotation of the photographed plane,
`geometry.viewpoint_homography`) plus independent photometric changes (contrast, brightness, gamma, colour
gain, noise). Because both views are rendered from the same source by known matrices, every pixel of
view 1 has an exact ground-truth position in view 2: `homography @ (x, y, 1)`.

Conventions:
- images are uint8 `(H, W, 3)` RGB (grayscale photographs are repeated over the channels);
- pixel coordinates `(x, y)` have pixel centres at integers (OpenCV's convention, and
  `vras_keras.ops.bilinear_sample`'s): `(x, y) = (j, i)` is the centre of `image[i, j]`;
- `homography` maps view-1 pixel coordinates to view-2 pixel coordinates (3 x 3, float64);
- views are rendered by exact bilinear interpolation (`scipy.ndimage.map_coordinates`, order 1), so the
  ground truth holds to floating-point precision, not to a fixed-point grid as with `cv2.warpPerspective`.

Splits: `TRAIN_IMAGES`, `VAL_IMAGES` and `EVAL_IMAGES` are disjoint lists of photographs; training quadruplets
only come from `split="train"`, `vras train` validates on `"val"` (its `val_mma3`), and `"eval"` is the held-out
set the benchmarks report on (nothing is chosen on it).

Quadruplets (Yi et al., LIFT, ECCV 2016, arXiv:1603.09114, Sec. 4): P1 and P2 are patches of the same
scene point in the two views, at a *distinctive* point (a DoG keypoint of view 1, as the SIFT points
of the paper's SfM reconstructions); P3 is a patch of a different distinctive point; P4 is a patch at a
non-distinctive point (low corner response, away from every keypoint).

Example:
>>> pairs = ViewPairs(split="train", image_size=128, seed=0)
>>> pair = pairs.sample(0)
>>> x2 = apply_homography(pair["homography"], [[10.0, 20.0]])     # where view-1 pixel (10, 20) is in view 2
>>> quads = sample_quadruplets(pair, num=16, patch_size=32, seed=0)
"""

from __future__ import annotations

import functools
import os
import zlib

import numpy as np

from vras_keras.data.geometry import (
    affine_rotation,
    apply_homography,
    inside,
    local_affine,
    pixel_grid,
    viewpoint_homography,
    warp_image,
)
from vras_keras.data.images import read_image, to_rgb

# The real photographs of skimage.data that ship with the package (no pooch download; `cat` is `chelsea`;
# the synthetic ones, `microaneurysms` (102 px) and `lfw_subset` (25 px faces) are left out), the two
# photographs shipped inside scikit-learn (`sklearn.datasets.load_sample_image`): `china`, `flower`, and
# matplotlib's `grace_hopper` sample. `stereo_motorcycle` / `stereo_motorcycle_right` are the left / right
# images of scikit-image's stereo pair (one scene: both in the training split).
TRAIN_IMAGES = (
    "astronaut",
    "chelsea",
    "brick",
    "grass",
    "gravel",
    "camera",
    "text",
    "page",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "cell",
    "stereo_motorcycle",
    "stereo_motorcycle_right",
    "flower",
)
VAL_IMAGES = ("grace_hopper", "china")
SKLEARN_IMAGES = {"china": "china.jpg", "flower": "flower.jpg"}
MATPLOTLIB_IMAGES = {"grace_hopper": "grace_hopper.jpg"}
EVAL_IMAGES = ("coffee", "rocket", "coins", "clock")
SPLITS = {"train": TRAIN_IMAGES, "val": VAL_IMAGES, "eval": EVAL_IMAGES}
MAX_SIDE = 512  # large photographs are downscaled (INTER_AREA) so that their longer side is at most this

__all__ = [
    "EVAL_IMAGES",
    "TRAIN_IMAGES",
    "VAL_IMAGES",
    "ViewPairs",
    "augment_patches",
    "available_images",
    "distinctive_points",
    "load_image",
    "photometric",
    "quadruplet_dataset",
    "random_view_homography",
    "sample_quadruplets",
    "viewpoint_pair",
]


# ------------------------------------------------------------------------------------------ images
@functools.lru_cache(maxsize=None)
def _load_cached(name: str) -> np.ndarray:
    import cv2

    if name in SKLEARN_IMAGES:
        from sklearn.datasets import load_sample_image

        image = to_rgb(load_sample_image(SKLEARN_IMAGES[name]), what=f"load_sample_image({SKLEARN_IMAGES[name]!r})")
    elif name in MATPLOTLIB_IMAGES:
        from matplotlib import cbook

        image = read_image(cbook.get_sample_data(MATPLOTLIB_IMAGES[name], asfileobj=False))
    elif _is_path(name):
        image = read_image(name)
    else:
        import skimage.data

        right = name.endswith("_right")
        loader = getattr(skimage.data, name[:-len("_right")] if right else name, None)
        if loader is None:
            raise ValueError(f"skimage.data has no image {name!r}")
        loaded = loader()
        if isinstance(loaded, tuple):  # stereo pairs (left, right[, disparity]): the left image unless "_right"
            loaded = loaded[1] if right else loaded[0]
        image = to_rgb(loaded, what=f"skimage.data.{name}()")
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    image.setflags(write=False)
    return image


def _is_path(name: str) -> bool:
    """A file path rather than a packaged photograph's name (it has a directory part or an image extension)."""
    return os.path.dirname(name) != "" or os.path.splitext(name)[1].lower() in (".jpg", ".jpeg", ".png", ".ppm",
                                                                                  ".pgm", ".bmp", ".tif", ".tiff")


def load_image(name: str) -> np.ndarray:
    """The photograph `name` (scikit-image, scikit-learn's `china` / `flower`, matplotlib's `grace_hopper`) or the
    image file at path `name` (your own photograph, e.g. for `viewpoint_pair`) as uint8 `(H, W, 3)` (longer side at
    most `MAX_SIDE`; read-only).

    Raises:
        ValueError: unknown name, or an image that needs a download (not shipped with the package).
        FileNotFoundError / ImageDecodeError: a path that does not exist or is not a readable image (naming it).
    """
    if _is_path(name):
        name = os.path.abspath(name)  # one cache entry per file, whatever the working directory
    try:
        return _load_cached(name)
    except Exception as error:  # noqa: BLE001 - skimage raises ModuleNotFoundError/OSError for pooch-only data
        if isinstance(error, ValueError) or (_is_path(name) and isinstance(error, OSError)):
            raise  # unknown name; a missing / undecodable file (its message names it)
        raise ValueError(f"skimage.data.{name} cannot be loaded offline ({type(error).__name__}: {error})") from error


def available_images(split: str) -> tuple[str, ...]:
    """The photographs of `split` ("train", "val" or "eval") that load offline from the installed packages."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; received {split!r}")
    names = []
    for name in SPLITS[split]:
        try:
            load_image(name)
        except ValueError:
            continue
        names.append(name)
    return tuple(names)


# ------------------------------------------------------------------------------------- geometry
def random_view_homography(
    rng: np.random.Generator,
    view_size: int,
    *,
    center,
    side: float,
    rotation: float = 0.0,
    scale: float = 1.0,
    perspective: float = 0.0,
) -> np.ndarray:
    """Homography (source pixels → view pixels) of a `view_size`² view of a rotated, jittered square.

    The square of `side / scale` source pixels centred at `center`, rotated by `rotation` radians, with
    each corner moved by up to `perspective * side` pixels, is mapped onto the view's corner pixels.
    """
    import cv2

    half = side / (2.0 * scale)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * half
    c, s = np.cos(rotation), np.sin(rotation)
    src = np.asarray(center, np.float64) + corners @ np.array([[c, -s], [s, c]]).T
    src = src + rng.uniform(-perspective, perspective, (4, 2)) * side
    last = view_size - 1.0
    dst = np.array([[0, 0], [last, 0], [last, last], [0, last]], np.float64)
    # getPerspectiveTransform solves in float64; the matrix is what the renderer uses, so it is exact.
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


def photometric(view: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random contrast, brightness, gamma, per-channel gain and Gaussian noise; returns uint8."""
    x = np.asarray(view, np.float64) / 255.0
    if strength > 0:
        gamma = np.exp(rng.uniform(-0.25, 0.25) * strength)
        x = np.clip(x, 0, 1) ** gamma
        contrast = 1.0 + rng.uniform(-0.3, 0.3) * strength
        brightness = rng.uniform(-0.1, 0.1) * strength
        gain = 1.0 + rng.uniform(-0.05, 0.05, size=(1, 1, x.shape[-1])) * strength
        x = (x - 0.5) * contrast + 0.5 + brightness
        x = x * gain + rng.normal(0.0, rng.uniform(0.0, 0.015) * strength, size=x.shape)
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def augment_patches(patches, rng: np.random.Generator, *, strength: float = 1.0, max_blur: float = 1.5,
                    blur_probability: float = 0.5):
    """Independent photometric and blur changes of every patch of a batch (training augmentation).

    Each patch gets its own gamma (exp(U(-0.3, 0.3) * strength)), contrast (1 + U(-0.3, 0.3) * strength),
    brightness (U(-0.1, 0.1) * strength, on 0..1), Gaussian noise (sigma U(0, 0.02) * strength) and, with
    probability `blur_probability`, a Gaussian blur of sigma U(0.3, max_blur) * strength px. Geometry is
    unchanged (the patch centre stays the keypoint), so the two patches of a pair, augmented independently,
    still show the same scene point under different imaging conditions.

    Args:
        patches: `(N, P, P, C)` uint8 or float in 0..255.
        rng: numpy generator (the only source of randomness).
        strength: 0 returns the patches unchanged; 1 the ranges above.
        max_blur: largest blur sigma (px) at strength 1.
        blur_probability: chance that a patch is blurred.

    Returns:
        the augmented patches, same shape and dtype (uint8 rounded and clipped, float clipped to 0..255).
    """
    import cv2

    array = np.asarray(patches)
    if array.ndim != 4:
        raise ValueError(f"patches must be (N, P, P, C); received shape {array.shape}")
    if not strength >= 0 or not max_blur >= 0 or not 0 <= blur_probability <= 1:
        raise ValueError("strength and max_blur must be >= 0 and blur_probability in [0, 1]; received "
                         f"strength={strength!r}, max_blur={max_blur!r}, blur_probability={blur_probability!r}")
    if strength == 0 or len(array) == 0:
        return array
    n = len(array)
    x = array.astype(np.float32) / 255.0
    blur = rng.uniform(0.3, max(max_blur, 0.3), n) * strength
    blurred = rng.random(n) < blur_probability
    for i in np.nonzero(blurred & (blur > 0.05))[0]:
        x[i] = cv2.GaussianBlur(x[i], (0, 0), float(blur[i]), borderType=cv2.BORDER_REFLECT).reshape(x[i].shape)
    shape = (n, 1, 1, 1)
    gamma = np.exp(rng.uniform(-0.3, 0.3, shape) * strength).astype(np.float32)
    contrast = (1.0 + rng.uniform(-0.3, 0.3, shape) * strength).astype(np.float32)
    brightness = (rng.uniform(-0.1, 0.1, shape) * strength).astype(np.float32)
    noise = (rng.uniform(0.0, 0.02, shape) * strength).astype(np.float32)
    x = np.clip(x, 0, 1) ** gamma
    x = (x - 0.5) * contrast + 0.5 + brightness
    x = x + rng.standard_normal(x.shape).astype(np.float32) * noise
    x = np.clip(x * 255.0, 0, 255)
    if array.dtype == np.uint8:
        return np.round(x).astype(np.uint8)
    return x.astype(array.dtype)


# ------------------------------------------------------------------------------------------ pairs
class ViewPairs:
    """Deterministic pairs of views of the scikit-image photographs of one split.

    Args:
        split: "train" (`TRAIN_IMAGES`), "val" (`VAL_IMAGES`, validation) or "eval" (`EVAL_IMAGES`, the
            held-out photographs of the benchmarks).
        image_size: side of both (square) views, pixels.
        seed: sample `i` depends only on `(seed, split, i)`.
        max_rotation: view 2 is rotated by up to ± this many degrees relative to view 1.
        scale_range: (min, max) zoom of view 2 relative to view 1.
        perspective: corner jitter of each view, as a fraction of the crop side.
        max_tilt: view 2 additionally sees the photographed plane rotated out of plane by an angle uniform in
            [0, max_tilt] degrees about a random in-plane axis (`geometry.viewpoint_homography`, focal length the
            view side); 0 (default) for none. Views up to 60° simulate real viewpoint changes.
        photometric_strength: 0 for none, 1 for the default ranges (see `photometric`).
        images: override the photograph names (must belong to the split's list).

    `sample(i)` returns a dict: `image1`, `image2` uint8 `(S, S, 3)`; `homography` float64 (3, 3) view 1
    → view 2; `valid1` / `valid2` bool `(S, S)`: pixels that are inside the photograph in their own
    view and whose corresponding point lies inside the other view; `name` of the photograph.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        image_size: int = 128,
        seed: int = 0,
        max_rotation: float = 30.0,
        scale_range=(0.8, 1.25),
        perspective: float = 0.06,
        max_tilt: float = 0.0,
        photometric_strength: float = 1.0,
        images=None,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; received {split!r}")
        if isinstance(max_tilt, bool) or not isinstance(max_tilt, (int, float)) or not 0 <= max_tilt < 90:
            raise ValueError(f"max_tilt must be degrees in [0, 90); received {max_tilt!r}")
        if not isinstance(image_size, int) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16; received {image_size!r}")
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must be (min, max) with 0 < min <= max; received {scale_range!r}")
        names = available_images(split) if images is None else tuple(images)
        foreign = [n for n in names if n not in SPLITS[split]]
        if foreign:
            raise ValueError(f"images {foreign} are not in the {split!r} split {SPLITS[split]}")
        if not names:
            raise ValueError(f"no photograph of the {split!r} split loads offline from scikit-image")
        self.split, self.image_size, self.seed = split, image_size, seed
        self.max_rotation, self.scale_range, self.perspective = max_rotation, (lo, hi), perspective
        self.photometric_strength = photometric_strength
        self.max_tilt = float(max_tilt)
        self.images = names

    def sample(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, zlib.crc32(self.split.encode()), int(index)])
        name = self.images[index % len(self.images)]
        source = load_image(name)
        h, w = source.shape[:2]
        size = self.image_size
        side = rng.uniform(0.45, 0.8) * min(h, w)
        side = max(side, min(size * 0.9, min(h, w) * 0.9))
        margin = side * 0.6
        center = np.array([rng.uniform(min(margin, w / 2), max(w - margin, w / 2)),
                           rng.uniform(min(margin, h / 2), max(h - margin, h / 2))])
        small = np.deg2rad(5.0)
        m1 = random_view_homography(rng, size, center=center, side=side,
                                    rotation=rng.uniform(-small, small), perspective=self.perspective * 0.5)
        lo, hi = np.log(self.scale_range[0]), np.log(self.scale_range[1])
        m2 = random_view_homography(
            rng, size,
            center=center + rng.uniform(-0.08, 0.08, 2) * side,
            side=side,
            rotation=rng.uniform(-1, 1) * np.deg2rad(self.max_rotation),
            scale=float(np.exp(rng.uniform(lo, hi))),
            perspective=self.perspective,
        )
        if self.max_tilt:  # out-of-plane rotation of the plane about the view's centre (drawn after the rest)
            tilt = np.deg2rad(rng.uniform(0.0, self.max_tilt))
            m2 = viewpoint_homography(size, tilt=tilt, azimuth=rng.uniform(0.0, np.pi)) @ m2
        view1, inside1 = warp_image(source, m1, size)
        view2, inside2 = warp_image(source, m2, size)
        homography = m2 @ np.linalg.inv(m1)
        homography = homography / homography[2, 2]
        image1 = photometric(view1, rng, self.photometric_strength)
        image2 = photometric(view2, rng, self.photometric_strength)
        grid = pixel_grid(size)
        valid1 = inside1 & inside(apply_homography(homography, grid), view1.shape).reshape(size, size)
        valid2 = inside2 & inside(apply_homography(np.linalg.inv(homography), grid), view2.shape).reshape(size, size)
        return {"image1": image1, "image2": image2, "homography": homography, "valid1": valid1,
                "valid2": valid2, "name": name}


def viewpoint_pair(name: str, *, size=(240, 320), tilt: float = 0.0, roll: float = 0.0, azimuth: float | None = None,
                   seed: int = 0, crop=(0.6, 0.85), photometric_strength: float = 1.0) -> dict:
    """A pair of views of photograph `name` under a controlled viewpoint change (the benchmarks' sweep).

    View 1 is a frontal view `size` `(H, W)` of a random crop (a fraction `crop` of the photograph, aspect
    W / H); view 2 sees the same plane rotated out of plane by `tilt` degrees (about an in-plane axis at
    `azimuth` degrees, random when None) and by `roll` degrees about the optical axis
    (`geometry.viewpoint_homography`, focal length max(H, W)). Both views get independent photometric
    changes. View 1, the azimuth and the photometric draws depend only on `(name, seed)`, so the pairs of a
    sweep share view 1 and differ only by the angles.

    Returns:
        the `ViewPairs.sample` dict: `image1`, `image2`, `homography`, `valid1`, `valid2`, `name`.
    """
    import cv2

    height, width = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    source = load_image(name)
    h, w = source.shape[:2]
    fit = min(w, h * width / height)  # widest crop of the view's aspect ratio inside the photograph
    crop_w = fit * rng.uniform(*crop)
    crop_h = crop_w * height / width
    cx = rng.uniform(crop_w / 2, w - crop_w / 2)
    cy = rng.uniform(crop_h / 2, h - crop_h / 2)
    src = np.array([[cx - crop_w / 2, cy - crop_h / 2], [cx + crop_w / 2, cy - crop_h / 2],
                    [cx + crop_w / 2, cy + crop_h / 2], [cx - crop_w / 2, cy + crop_h / 2]])
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float64)
    m1 = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)
    azimuth = rng.uniform(0.0, 180.0) if azimuth is None else azimuth
    photometric_rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 1])
    homography = viewpoint_homography((height, width), tilt=np.deg2rad(tilt), azimuth=np.deg2rad(azimuth),
                                      roll=np.deg2rad(roll))
    view1, inside1 = warp_image(source, m1, (height, width))
    view2, inside2 = warp_image(source, homography @ m1, (height, width))
    image1 = photometric(view1, photometric_rng, photometric_strength)
    image2 = photometric(view2, photometric_rng, photometric_strength)
    valid1 = inside1 & inside(apply_homography(homography, pixel_grid(height, width)), view2.shape).reshape(
        height, width
    )
    valid2 = inside2 & inside(apply_homography(np.linalg.inv(homography), pixel_grid(height, width)),
                              view1.shape).reshape(height, width)
    return {"image1": image1, "image2": image2, "homography": homography, "valid1": valid1, "valid2": valid2,
            "name": name}


# ------------------------------------------------------------------------------------- quadruplets
def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def distinctive_points(image: np.ndarray, max_points: int = 500) -> np.ndarray:
    """DoG (SIFT detector) keypoints of a uint8 RGB image, strongest first: float64 `(N, 2)` (x, y)."""
    import cv2

    detector = cv2.SIFT_create(nfeatures=max_points, contrastThreshold=0.02)
    keypoints = detector.detect(_gray(image), None)
    keypoints = sorted(keypoints, key=lambda k: -k.response)
    return np.array([k.pt for k in keypoints], np.float64).reshape(-1, 2)


def _sample_patches(image: np.ndarray, points: np.ndarray, patch_size: int) -> np.ndarray:
    """Bilinear patches `(N, P, P, C)` at `(N, P, P, 2)` pixel positions `points` (0 outside)."""
    from scipy import ndimage

    flat = points.reshape(-1, 2)
    coords = np.stack([flat[:, 1], flat[:, 0]])
    channels = [ndimage.map_coordinates(image[..., ch].astype(np.float32), coords, order=1, mode="constant", cval=0.0)
                for ch in range(image.shape[-1])]
    return np.stack(channels, axis=-1).reshape(points.shape[:-1] + (image.shape[-1],))


def _offsets(patch_size: int) -> np.ndarray:
    r = np.arange(patch_size, dtype=np.float64) - (patch_size - 1) / 2.0
    ys, xs = np.meshgrid(r, r, indexing="ij")
    return np.stack([xs, ys], axis=-1)  # (P, P, 2)


def _heatmaps(points: np.ndarray, centres: np.ndarray, patch_size: int, sigma: float = 1.0) -> np.ndarray:
    """`(n, P, P)` float32 in [0, 1]: max of Gaussian bumps at `points` in the patches centred at `centres`."""
    offsets = _offsets(patch_size)  # (P, P, 2) relative to the patch centre
    out = np.zeros((len(centres), patch_size, patch_size), np.float32)
    half = patch_size / 2.0 + 3 * sigma
    for i, c in enumerate(centres):
        near = points[np.all(np.abs(points - c) <= half, axis=1)] - c
        if len(near):
            d2 = np.sum((offsets[None] - near[:, None, None]) ** 2, axis=-1)
            out[i] = np.exp(-d2 / (2 * sigma**2)).max(axis=0)
    return out


def sample_quadruplets(
    pair: dict, *, num: int, patch_size: int, seed: int = 0, min_separation: float | None = None
) -> dict:
    """LIFT training quadruplets from one pair (see the module docstring).

    Args:
        pair: a `ViewPairs.sample` dict.
        num: at most this many quadruplets (fewer when the pair has fewer usable keypoints).
        patch_size: side P of the square patches, pixels.
        seed: selection of the keypoints.
        min_separation: P3's point is at least this far (pixels, default P / 2) from P2's.

    Returns:
        dict of arrays (n <= num): `p1` view-1 patches centred at a distinctive point x1; `p2` view-2 patches centred at
        H(x1), upright in view 2 (so rotated relative to `p1`); `p2_rectified` view 2 sampled at H(x1 + offsets):
        aligned pixel by pixel with `p1`; `p3` a view-2 patch at another distinctive point; `p4` a view-1 patch at a
        non-distinctive point; all float32 `(n, P, P, 3)` in 0..255. `heat1`, `heat2` float32 `(n, P, P)` in [0, 1]:
        detector targets of `p1` / `p2`, Gaussian bumps (sigma 1 px) at the repeatable distinctive points of the patch
        (DoG keypoints found again within 1.5 px in the other view). `affine` float32 `(n, 2, 2)`: the Jacobian of H at
        x1 (view-1 offset → view-2 offset), `rotation` float32 `(n,)` its rotation angle (radians), `points1`, `points2`
        float32 `(n, 2)`.
    """
    import cv2

    rng = np.random.default_rng([seed, 7])
    image1, image2, homography = pair["image1"], pair["image2"], pair["homography"]
    size = image1.shape[0]
    radius = patch_size / 2.0 * 1.5  # room for the rotated patch
    dist1 = cv2.distanceTransform(pair["valid1"].astype(np.uint8), cv2.DIST_L2, 5)
    dist2 = cv2.distanceTransform(pair["valid2"].astype(np.uint8), cv2.DIST_L2, 5)

    def usable(dist, pts):
        ix = np.clip(np.round(pts).astype(int), 0, size - 1)
        return dist[ix[:, 1], ix[:, 0]] > radius

    empty = {k: np.zeros((0, patch_size, patch_size, 3), np.float32) for k in ("p1", "p2", "p2_rectified", "p3", "p4")}
    empty.update(heat1=np.zeros((0, patch_size, patch_size), np.float32),
                 heat2=np.zeros((0, patch_size, patch_size), np.float32))
    empty.update(affine=np.zeros((0, 2, 2), np.float32), rotation=np.zeros((0,), np.float32),
                 points1=np.zeros((0, 2), np.float32), points2=np.zeros((0, 2), np.float32))
    all1, all2 = distinctive_points(image1), distinctive_points(image2)
    kp1, kp2 = all1, all2
    if len(kp1) == 0 or len(kp2) < 2:
        return empty
    kp1 = kp1[usable(dist1, kp1) & usable(dist2, apply_homography(homography, kp1))]
    kp2 = kp2[usable(dist2, kp2)]
    if len(kp1) == 0 or len(kp2) < 2:
        return empty
    chosen = kp1[rng.permutation(len(kp1))[:num]]
    mapped = apply_homography(homography, chosen)
    separation = patch_size / 2.0 if min_separation is None else min_separation
    # P3: a different distinctive point of view 2, at least `separation` from H(x1).
    d = np.linalg.norm(kp2[None] - mapped[:, None], axis=-1)
    choices = rng.random(d.shape) + (d >= separation)  # prefer far points, random among them
    others = kp2[np.argmax(choices, axis=1)]
    keep = np.linalg.norm(others - mapped, axis=-1) >= separation
    # P4: non-distinctive points of view 1: lowest decile of the min-eigenvalue corner response, away
    # from every keypoint.
    response = cv2.cornerMinEigenVal(_gray(image1).astype(np.float32), 7)
    ys, xs = np.nonzero(dist1 > radius)
    if len(xs) == 0:
        return empty
    values = response[ys, xs]
    low = values <= np.quantile(values, 0.1)
    candidates = np.stack([xs[low], ys[low]], axis=1).astype(np.float64)
    far = np.min(np.linalg.norm(candidates[:, None] - kp1[None], axis=-1), axis=1) >= patch_size / 4.0
    candidates = candidates[far] if far.any() else candidates
    flat_points = candidates[rng.integers(0, len(candidates), size=len(chosen))]

    chosen, mapped, others, flat_points = chosen[keep], mapped[keep], others[keep], flat_points[keep]
    if len(chosen) == 0:
        return empty
    # Repeatable distinctive points (the DoG keypoints of one view found again within 1.5 px in the other),
    # drawn as Gaussian bumps into detector targets for P1 (view 1) and P2 (view 2).
    to2 = apply_homography(homography, all1)
    rep1 = all1[np.min(np.linalg.norm(to2[:, None] - all2[None], axis=-1), axis=1) <= 1.5]
    to1 = apply_homography(np.linalg.inv(homography), all2)
    rep2 = all2[np.min(np.linalg.norm(to1[:, None] - all1[None], axis=-1), axis=1) <= 1.5]
    offsets = _offsets(patch_size)
    grid1 = chosen[:, None, None] + offsets
    rect = apply_homography(homography, grid1.reshape(-1, 2)).reshape(grid1.shape)
    affine = local_affine(homography, chosen)
    return {
        "p1": _sample_patches(image1, grid1, patch_size),
        "p2": _sample_patches(image2, mapped[:, None, None] + offsets, patch_size),
        "p2_rectified": _sample_patches(image2, rect, patch_size),
        "p3": _sample_patches(image2, others[:, None, None] + offsets, patch_size),
        "p4": _sample_patches(image1, flat_points[:, None, None] + offsets, patch_size),
        "heat1": _heatmaps(rep1, chosen, patch_size),
        "heat2": _heatmaps(rep2, mapped, patch_size),
        "affine": affine.astype(np.float32),
        "rotation": affine_rotation(affine).astype(np.float32),
        "points1": chosen.astype(np.float32),
        "points2": mapped.astype(np.float32),
    }


def quadruplet_dataset(split: str = "train", *, num_pairs: int, per_pair: int, patch_size: int, image_size: int = 160,
                       seed: int = 0, patch_dtype: str = "float32", **pair_kwargs) -> dict:
    """Quadruplets of `num_pairs` pairs of `split`, concatenated (arrays as `sample_quadruplets`).

    `patch_dtype="uint8"` rounds the patches to uint8 (a quarter of the memory, at most 0.5 gray level off)
    and stores `heat1` / `heat2` as uint8 0..255 (scaled by 255).
    """
    pairs = ViewPairs(split, image_size=image_size, seed=seed, **pair_kwargs)
    parts = [sample_quadruplets(pairs.sample(i), num=per_pair, patch_size=patch_size, seed=seed * 100003 + i)
             for i in range(num_pairs)]
    out = {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    if patch_dtype == "uint8":
        for k in ("p1", "p2", "p2_rectified", "p3", "p4"):
            out[k] = np.clip(np.round(out[k]), 0, 255).astype(np.uint8)
        for k in ("heat1", "heat2"):
            out[k] = np.round(out[k] * 255).astype(np.uint8)
    elif patch_dtype != "float32":
        raise ValueError(f"patch_dtype must be 'float32' or 'uint8'; received {patch_dtype!r}")
    return out
