"""View pairs of scikit-image photographs: exact homography ground truth, determinism, split, quadruplets."""

import numpy as np
import pytest
from scipy import ndimage

from vras_keras.data import pairs as P
from vras_keras.data.geometry import apply_homography


def _bilinear(image, xy):
    return np.stack([ndimage.map_coordinates(image[..., c].astype(np.float64), [xy[:, 1], xy[:, 0]], order=1)
                     for c in range(image.shape[-1])], axis=-1)


@pytest.fixture(scope="module")
def clean_pair():
    return P.ViewPairs("train", image_size=96, seed=3, photometric_strength=0.0).sample(0)


def test_point_mapped_and_back_is_exact(clean_pair):
    h = clean_pair["homography"]
    points = np.array([[10.0, 20.0], [47.5, 3.25], [90.0, 90.0]])
    back = apply_homography(np.linalg.inv(h), apply_homography(h, points))
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_ground_truth_matches_image_content(clean_pair):
    """View 2 read at H(p) equals view 1 at p up to interpolation (both lightly blurred against the
    aliasing of minified views); H off by half a pixel is clearly worse, so the check can fail."""
    blur = lambda im: ndimage.gaussian_filter(im.astype(np.float64), (1, 1, 0))  # noqa: E731
    image1, image2, h = blur(clean_pair["image1"]), blur(clean_pair["image2"]), clean_pair["homography"]
    ys, xs = np.nonzero(ndimage.binary_erosion(clean_pair["valid1"], iterations=4))
    p = np.stack([xs, ys], axis=1).astype(np.float64)
    q = apply_homography(h, p)
    exact = np.abs(_bilinear(image2, q) - image1[ys, xs]).mean()
    half_pixel_off = np.abs(_bilinear(image2, q + [0.5, 0.0]) - image1[ys, xs]).mean()
    assert exact < 4.0, exact
    assert half_pixel_off > 1.5 * exact, (exact, half_pixel_off)
    # valid masks: every valid view-1 pixel maps inside view 2
    assert np.all((q >= 0) & (q <= 95))


def test_deterministic_by_seed():
    a = P.ViewPairs("train", image_size=48, seed=5).sample(2)
    b = P.ViewPairs("train", image_size=48, seed=5).sample(2)
    c = P.ViewPairs("train", image_size=48, seed=6).sample(2)
    for key in ("image1", "image2", "homography", "valid1", "valid2"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["homography"], c["homography"])


def test_split_is_disjoint():
    assert not set(P.TRAIN_IMAGES) & set(P.EVAL_IMAGES)
    assert not set(P.VAL_IMAGES) & (set(P.TRAIN_IMAGES) | set(P.EVAL_IMAGES))
    assert set(P.available_images("val")) == set(P.VAL_IMAGES)  # every validation photograph loads offline
    assert {P.ViewPairs("val", image_size=32).sample(i)["name"] for i in range(4)} == set(P.VAL_IMAGES)
    assert len(P.available_images("train")) >= 5 and len(P.available_images("eval")) >= 2
    evaluation = P.ViewPairs("eval", image_size=32)
    assert {evaluation.sample(i)["name"] for i in range(8)} <= set(P.EVAL_IMAGES)
    train = P.ViewPairs("train", image_size=32)
    assert not set(train.images) & set(P.EVAL_IMAGES)
    with pytest.raises(ValueError, match="not in the 'train' split"):
        P.ViewPairs("train", images=["coffee"])
    with pytest.raises(ValueError, match="split must be"):
        P.ViewPairs("test")


def test_quadruplets(clean_pair):
    q = P.sample_quadruplets(clean_pair, num=12, patch_size=24, seed=0)
    n = len(q["p1"])
    assert 3 <= n <= 12
    for key in ("p1", "p2", "p2_rectified", "p3", "p4"):
        assert q[key].shape == (n, 24, 24, 3) and q[key].dtype == np.float32
    # P1 and the rectified P2 show the same pixels; P3 (another point) does not.
    same = np.abs(q["p1"] - q["p2_rectified"]).mean()
    other = np.abs(q["p1"] - q["p3"]).mean()
    assert same < 8.0 and other > 3 * same, (same, other)  # same: interpolation of aliased minified views
    # P2's centre is the ground-truth image of P1's centre; P4 is flatter than P1 (non-distinctive).
    np.testing.assert_allclose(q["points2"], apply_homography(clean_pair["homography"], q["points1"]), atol=1e-4)
    grad = lambda x: np.mean(np.abs(np.diff(x.mean(-1), axis=1)))  # noqa: E731
    assert grad(q["p4"]) < grad(q["p1"])
    assert q["affine"].shape == (n, 2, 2) and q["rotation"].shape == (n,)
    # Detector targets: heatmaps in [0, 1], bumps only at repeatable DoG points.
    for key in ("heat1", "heat2"):
        assert q[key].shape == (n, 24, 24) and 0 <= q[key].min() and q[key].max() <= 1
    assert q["heat1"].max() > 0.5


def test_heatmaps_put_a_unit_bump_at_each_point():
    centre = np.array([[50.0, 40.0]])
    heat = P._heatmaps(np.array([[53.5, 38.5], [500.0, 500.0]]), centre, 16)  # second point: far outside
    # patch pixel (i, j) sits at centre + (j - 7.5, i - 7.5): the point is at pixel x = 11, y = 6
    assert heat.shape == (1, 16, 16) and np.unravel_index(np.argmax(heat[0]), (16, 16)) == (6, 11)
    np.testing.assert_allclose(heat[0, 6, 11], 1.0, atol=1e-6)
    np.testing.assert_allclose(heat[0, 6, 12], np.exp(-0.5), atol=1e-6)
    assert heat[0, 0, 0] < 1e-10


def test_scikit_learn_and_stereo_photographs_load_offline():
    for name in ("china", "flower", "stereo_motorcycle", "stereo_motorcycle_right", "grace_hopper"):
        image = P.load_image(name)
        assert (
            image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3 and max(image.shape[:2]) <= P.MAX_SIDE
        )
        assert image.std() > 20  # a real photograph, not a blank
    assert {"flower", "stereo_motorcycle", "stereo_motorcycle_right"} <= set(P.available_images("train"))
    assert {"china", "grace_hopper"} <= set(P.available_images("val"))
    left, right = P.load_image("stereo_motorcycle"), P.load_image("stereo_motorcycle_right")
    assert left.shape == right.shape and np.abs(left.astype(int) - right.astype(int)).mean() > 5  # two viewpoints
    assert not np.array_equal(P.load_image("china")[:100, :100], P.load_image("flower")[:100, :100])
    with pytest.raises(ValueError, match="no image"):
        P.load_image("not_a_photograph")


def test_augment_patches_is_photometric_and_independent_per_patch():
    rng = np.random.default_rng(0)
    patches = np.clip(ndimage.gaussian_filter(rng.uniform(0, 255, (4, 16, 16, 3)), (0, 2, 2, 0)) * 3 - 250, 0, 255)
    patches = patches.astype(np.uint8)
    same = P.augment_patches(patches, np.random.default_rng(1), strength=0.0)
    assert same is patches or np.array_equal(same, patches)
    out = P.augment_patches(patches, np.random.default_rng(1), strength=1.0)
    assert out.shape == patches.shape and out.dtype == np.uint8
    again = P.augment_patches(patches, np.random.default_rng(1), strength=1.0)
    np.testing.assert_array_equal(out, again)  # deterministic given the generator
    # Each patch gets its own change: the mean shift differs between patches.
    shift = out.astype(float).mean((1, 2, 3)) - patches.astype(float).mean((1, 2, 3))
    assert np.ptp(shift) > 1.0
    # Photometric only: the augmented patch is still strongly correlated with the original.
    for a, b in zip(out.astype(float), patches.astype(float)):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8
    # Blur: with the same generator state (same gamma, contrast, brightness, noise) a blurred patch has less
    # gradient energy than the unblurred one.
    edge = np.full((3, 16, 16, 1), 100.0, np.float32)
    edge[:, :, 8:] = 200.0
    sharp = P.augment_patches(edge, np.random.default_rng(2), strength=1.0, max_blur=2.0, blur_probability=0.0)
    soft = P.augment_patches(edge, np.random.default_rng(2), strength=1.0, max_blur=2.0, blur_probability=1.0)
    assert soft.dtype == np.float32 and soft.shape == edge.shape
    energy = lambda x: np.sum(np.diff(x[..., 0], axis=2) ** 2, axis=(1, 2))  # noqa: E731
    assert np.all(energy(soft) < 0.9 * energy(sharp)), (energy(soft), energy(sharp))
    with pytest.raises(ValueError, match="patches must be"):
        P.augment_patches(patches[0], rng)
    with pytest.raises(ValueError, match="strength"):
        P.augment_patches(patches, rng, strength=-1.0)


def test_tilted_views_keep_an_exact_ground_truth_and_foreshorten():
    """`max_tilt`: view 2 sees the plane rotated out of plane; the homography still maps view-1 pixels onto the
    same content, and the local map shrinks one direction (det of the Jacobian < 1 at the centre on average)."""
    from vras_keras.data.geometry import local_affine

    flat = P.ViewPairs("train", image_size=96, seed=3, photometric_strength=0.0, max_rotation=0, scale_range=(1, 1),
                       perspective=0.0)
    tilted = P.ViewPairs("train", image_size=96, seed=3, photometric_strength=0.0, max_rotation=0, scale_range=(1, 1),
                         perspective=0.0, max_tilt=60)
    dets = {}
    for name, views in (("flat", flat), ("tilted", tilted)):
        ratios = []
        for i in range(6):
            pair = views.sample(i)
            jac = local_affine(pair["homography"], [[47.5, 47.5]])[0]
            singular = np.linalg.svd(jac, compute_uv=False)
            ratios.append(singular[1] / singular[0])
            if name == "tilted" and i == 0:
                blur = lambda im: ndimage.gaussian_filter(im.astype(np.float64), (1, 1, 0))  # noqa: E731
                ys, xs = np.nonzero(ndimage.binary_erosion(pair["valid1"], iterations=4))
                p = np.stack([xs, ys], axis=1).astype(np.float64)
                q = apply_homography(pair["homography"], p)
                err = np.abs(_bilinear(blur(pair["image2"]), q) - blur(pair["image1"])[ys, xs]).mean()
                assert err < 6.0, err
        dets[name] = np.array(ratios)
    np.testing.assert_allclose(dets["flat"], 1.0, atol=1e-6)  # similarity: no anisotropy
    assert dets["tilted"].min() < 0.85, dets  # some view is foreshortened (cos 60 deg = 0.5 at most)
    with pytest.raises(ValueError, match="max_tilt"):
        P.ViewPairs("train", max_tilt=95)


def test_viewpoint_pair_is_non_square_exact_and_shares_view_one():
    from vras_keras.data.geometry import local_affine

    flat = P.viewpoint_pair("coffee", size=(48, 64), seed=1, photometric_strength=0.0)
    tilted = P.viewpoint_pair("coffee", size=(48, 64), seed=1, tilt=50, azimuth=0, photometric_strength=0.0)
    turned = P.viewpoint_pair("coffee", size=(48, 64), seed=1, roll=90, photometric_strength=0.0)
    assert flat["image1"].shape == (48, 64, 3) and flat["valid1"].shape == (48, 64)
    np.testing.assert_array_equal(flat["image1"], tilted["image1"])  # one view 1 for every level of a sweep
    np.testing.assert_allclose(flat["homography"], np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(flat["image1"], flat["image2"])
    # tilt about the x axis: foreshortened by about cos(50 deg) along y at the centre
    jac = local_affine(tilted["homography"], [[31.5, 23.5]])[0]
    np.testing.assert_allclose(jac, [[1, 0], [0, np.cos(np.deg2rad(50))]], atol=1e-9)
    # a quarter turn about the centre pixel (31.5, 23.5)
    np.testing.assert_allclose(apply_homography(turned["homography"], [[41.5, 23.5]]), [[31.5, 33.5]], atol=1e-9)
    for pair in (tilted, turned):
        ys, xs = np.nonzero(ndimage.binary_erosion(pair["valid1"], iterations=3))
        p = np.stack([xs, ys], axis=1).astype(np.float64)
        q = apply_homography(pair["homography"], p)
        assert np.all((q[:, 0] >= 0) & (q[:, 0] <= 63) & (q[:, 1] >= 0) & (q[:, 1] <= 47))
        err = np.abs(_bilinear(pair["image2"].astype(np.float64), q) - pair["image1"][ys, xs]).mean()
        assert err < 8.0, err


def test_viewpoint_pair_of_an_image_file(tmp_path, monkeypatch):
    """A user's own photograph (a file path) loads like a packaged one (the packaged photograph written to disk
    losslessly reads back the same) and gives exact, deterministic pairs; a missing or broken file is named."""
    import cv2

    from vras_keras.data.images import ImageDecodeError

    monkeypatch.chdir(tmp_path)  # a relative name: the pair's crop and tilt axis follow the name, not tmp_path
    path = "my_photo.png"
    cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(P.load_image("coffee")), cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(P.load_image(str(path)), P.load_image("coffee"))
    mine = P.viewpoint_pair(str(path), size=(48, 64), seed=1, tilt=30, photometric_strength=0.0)
    again = P.viewpoint_pair(str(path), size=(48, 64), seed=1, tilt=30, photometric_strength=0.0)
    np.testing.assert_array_equal(mine["image2"], again["image2"])
    ys, xs = np.nonzero(ndimage.binary_erosion(mine["valid1"], iterations=3))
    q = apply_homography(mine["homography"], np.stack([xs, ys], axis=1).astype(np.float64))
    err = np.abs(_bilinear(mine["image2"].astype(np.float64), q) - mine["image1"][ys, xs]).mean()
    assert err < 8.0, err
    other = tmp_path / "other"  # the same relative name in another folder is another photograph (not the cache's)
    other.mkdir()
    monkeypatch.chdir(other)
    cv2.imwrite(path, np.zeros((40, 50, 3), np.uint8))
    assert P.load_image(path).shape == (40, 50, 3)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        P.load_image(str(tmp_path / "missing.jpg"))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImageDecodeError, match="broken.png"):
        P.load_image(str(tmp_path / "broken.png"))
    with pytest.raises(ValueError, match="no image 'not_a_photo'"):
        P.load_image("not_a_photo")
