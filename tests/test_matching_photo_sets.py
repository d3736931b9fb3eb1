"""The photographs the matching benchmarks choose on are disjoint from the ones they report on (issue #22)."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import lift_choices  # noqa: E402
import matching_sweep  # noqa: E402

from vras_keras.data.pairs import SPLITS  # noqa: E402

GRAFFITI = ("graf1.png", "graf3.png")  # benchmarks/matching_real.py's real pair


def _family(name: str) -> str:
    """A file name without extension, trailing digits and a trailing view letter: graf1 / graf3 -> graf, aloeL /
    aloeR -> aloe, leuvenA / leuvenB -> leuven (the siblings OpenCV ships of one scene)."""
    stem = Path(name).stem
    return re.sub(r"[ABLR]$", "", re.sub(r"_?\d+$", "", stem)).lower()


def test_family_groups_opencv_siblings():
    assert _family("graf1.png") == _family("graf3.png") == "graf"
    assert _family("aloeL.jpg") == _family("aloeR.jpg") == "aloe"
    assert _family("leuvenA.jpg") == _family("leuvenB.jpg") == "leuven"
    assert _family("basketball1.png") == _family("basketball2.png") == "basketball"
    assert _family("chicky_512.png") == "chicky"
    assert _family("apple.jpg") != _family("aero1.jpg")


def test_opencv_validation_photographs_are_not_reported_on():
    reported = set(matching_sweep.OPENCV_DOC_PHOTOS) | set(GRAFFITI)
    chosen_on = set(lift_choices.OPENCV_DOC_VAL)
    assert len(chosen_on) == len(lift_choices.OPENCV_DOC_VAL) == 7
    assert not chosen_on & reported
    assert not {_family(n) for n in chosen_on} & {_family(n) for n in reported}  # no sibling of a reported scene


def test_validation_photographs_are_the_package_validation_split():
    assert set(lift_choices.VAL) == set(SPLITS["val"])
    assert not set(lift_choices.VAL) & (set(SPLITS["eval"]) | set(SPLITS["train"]))
