"""The matching sweep's paired comparison (`benchmarks/matching_sweep.py`, issue #22): paired differences and
their bootstrap intervals, resampled within each photograph."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import matching_sweep  # noqa: E402


def test_constant_difference_has_a_point_interval():
    a = np.array([0.9, 0.8, 0.7, 0.6])
    mean, low, high = matching_sweep.paired_difference(a, a - 0.25, [0, 0, 1, 1])
    assert mean == pytest.approx(0.25) and low == pytest.approx(0.25) and high == pytest.approx(0.25)


def test_mean_and_interval_by_hand():
    # differences: photograph 0 -> (1, 0), photograph 1 -> (0, 0): mean 0.25. Resampling within photographs, the
    # mean of a resample is (number of 1s drawn from photograph 0) / 4, i.e. 0, 0.25 or 0.5 with probabilities
    # 1/4, 1/2, 1/4: the 95 % interval runs from 0 to 0.5, and about half the resamples give exactly 0.25.
    a, b, groups = [1.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5], ["p", "p", "q", "q"]
    mean, low, high = matching_sweep.paired_difference(a, b, groups, resamples=4000)
    assert mean == pytest.approx(0.25)
    assert (low, high) == (pytest.approx(0.0), pytest.approx(0.5))


def test_within_photograph_resampling_keeps_the_photographs_mix():
    # photograph 0 always +1, photograph 1 always -1: resampling pairs within photographs cannot change the mix,
    # so the interval is the point 0 (a bootstrap over all pairs would spread it)
    diff = np.array([1.0] * 5 + [-1.0] * 5)
    mean, low, high = matching_sweep.paired_difference(diff, np.zeros(10), [0] * 5 + [1] * 5)
    assert (mean, low, high) == (0.0, 0.0, 0.0)


def test_same_seed_same_interval_and_a_wider_interval_for_noisier_differences():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(4), 16)
    quiet, noisy = rng.normal(0.1, 0.05, 64), rng.normal(0.1, 0.5, 64)
    zeros = np.zeros(64)
    assert matching_sweep.paired_difference(quiet, zeros, groups) == matching_sweep.paired_difference(
        quiet, zeros, groups)
    q = matching_sweep.paired_difference(quiet, zeros, groups)
    n = matching_sweep.paired_difference(noisy, zeros, groups)
    assert q[1] < q[0] < q[2] and n[1] < n[0] < n[2]
    assert (n[2] - n[1]) > 5 * (q[2] - q[1])


@pytest.mark.parametrize("a, b, groups", [([1.0, 2.0], [1.0], [0, 0]), ([1.0, 2.0], [1.0, 2.0], [0]),
                                          ([], [], [])])
def test_mismatched_or_empty_inputs_are_errors(a, b, groups):
    with pytest.raises(ValueError, match="equal-length"):
        matching_sweep.paired_difference(a, b, groups)


def test_difference_table_rows():
    keys = matching_sweep.KEYS
    def rows(mma, hom):
        out = np.zeros((4, len(keys)))
        out[:, keys.index("mma@3")], out[:, keys.index("homography@3")] = mma, hom
        return out
    per_pair = {("viewpoint", 40): {"LIFT 500, mutual NN": rows(0.8, 1.0), "SIFT 500, mutual NN": rows(0.7, 1.0),
                                    "ORB 500, mutual NN": rows(0.9, 0.0)}}
    lines = matching_sweep.difference_table(per_pair, [0, 0, 1, 1], 500)
    assert lines[2] == "| viewpoint 40° | +0.100 [+0.100, +0.100] | -0.100 [-0.100, -0.100] | +0.000 [+0.000, +0.000] |"


def test_interval_verdict_names_levels_below_tied_and_ahead():
    keys = matching_sweep.KEYS
    groups = [0, 0, 1, 1]

    def rows(mma, hom=0.5):
        out = np.zeros((4, len(keys)))
        out[:, keys.index("mma@3")], out[:, keys.index("homography@3")] = mma, hom
        return out
    lift, sift, orb = ("LIFT 500, mutual NN", "SIFT 500, mutual NN", "ORB 500, mutual NN")
    per_pair = {
        # 0°: LIFT below SIFT on every pair; ORB level
        ("viewpoint", 0): {lift: rows(0.8), sift: rows(0.9), orb: rows(0.8)},
        # 40°: a tie with SIFT (one pair per photograph better, one worse), ahead of ORB
        ("viewpoint", 40): {lift: rows([0.8, 0.6, 0.8, 0.6]), sift: rows([0.6, 0.8, 0.6, 0.8]), orb: rows(0.5)},
        # 50° is outside the SIFT targets: below SIFT there is not named; below ORB it is
        ("viewpoint", 50): {lift: rows(0.5), sift: rows(0.9), orb: rows(0.6)},
        ("rotation", 0): {lift: rows(0.8), sift: rows(0.9), orb: rows(0.8)},  # = viewpoint 0, skipped
    }
    text = matching_sweep.interval_verdict(per_pair, groups, 500)
    mma_sift, mma_orb, hom = text.split(": ", 1)[1].split("; ")
    assert "significantly below at **0°**" in mma_sift and "tied (interval contains 0) at 40°" in mma_sift
    assert "significantly below at **50°**" in mma_orb and "tied (interval contains 0) at 0°," in mma_orb
    assert "rotation" not in text
    assert "significantly below at **no level**, tied (interval contains 0) at 0°, 40°" in hom


def test_one_pair_per_photograph_is_a_bootstrap_over_photographs():
    # within-photograph resampling of a single pair could not move; singletons are resampled together instead
    diff = np.array([1.0, 0.0, 0.0, 0.0])
    mean, low, high = matching_sweep.paired_difference(diff, np.zeros(4), ["a", "b", "c", "d"])
    assert mean == pytest.approx(0.25) and low == pytest.approx(0.0) and high >= 0.5


def test_sweep_scores_the_rotation_0_pairs_once():
    # rotation 0 renders the same pairs as viewpoint 0: the sweep reuses their scores instead of scoring them again
    rendered = []
    image = np.zeros((16, 16), np.uint8)

    def pair_of(photo, k, kind, level):
        rendered.append((photo, k, kind, level))
        return {"image1": image, "image2": image, "homography": np.eye(3), "valid1": None, "valid2": None}

    xy = np.array([[3.0, 3.0], [8.0, 4.0], [5.0, 11.0]], np.float32)
    features = (lambda im, cap: (xy[:cap], np.eye(3, dtype=np.float32)[:cap]), {"mutual NN": {}})
    per_pair = {}
    results = matching_sweep.sweep({"LIFT": features, "SIFT": features}, pair_of, ("a", "b"), 2, (2, 3), per_pair)
    levels = len(matching_sweep.TILTS) + len(matching_sweep.ROLLS)
    assert len(rendered) == (levels - 1) * 2 * 2 and not [r for r in rendered if r[2:] == ("rotation", 0)]
    assert results[("rotation", 0)] == results[("viewpoint", 0)]
    np.testing.assert_array_equal(per_pair[("rotation", 0)]["LIFT 3, mutual NN"],
                                  per_pair[("viewpoint", 0)]["LIFT 3, mutual NN"])
    assert results[("viewpoint", 0)]["LIFT 3, mutual NN"]["mma@3"] == 1.0
