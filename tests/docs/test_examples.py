"""README's Python example (training to prediction) and docs/export.md's TFLite-on-camera-frames example,
run as written on a small real image folder (scikit-learn digits)."""

import os
import re
import shutil
from pathlib import Path

from tests.docs.digit_folders import write_digit_folders
from tests.docs.test_own_photos import walkthrough

ROOT = Path(__file__).resolve().parents[2]


def python_block(path: Path, after: str) -> str:
    text = path.read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(after):], re.S).group(1)


def test_readme_python_example_then_tflite_on_frames(tmp_path, monkeypatch, capsys):
    recipe, _ = walkthrough()
    train_dir, test_dir = write_digit_folders(tmp_path, train_copies=1, test_copies=1)
    # a short run: the example's point is the path, not the accuracy
    short = re.sub(r"(?m)^epochs: \d+$", "epochs: 1", recipe)
    assert short != recipe or "epochs: 1\n" in recipe
    (tmp_path / "own_photos.yaml").write_text(short)
    os.makedirs(tmp_path / "my_photos_test" / "cat", exist_ok=True)
    shutil.copy(os.path.join(test_dir, "3", "00001.png"), tmp_path / "my_photos_test" / "cat" / "0001.png")
    monkeypatch.chdir(tmp_path)

    readme = python_block(ROOT / "README.md", "The same path from Python")
    exec(compile(readme, "README.md", "exec"), {})
    out = capsys.readouterr().out
    printed = out.strip().splitlines()[-1].split()
    assert printed[0] in {str(i) for i in range(10)} and 0.0 < float(printed[1]) <= 1.0
    assert "holding out 0.1" in out
    assert (tmp_path / "savedmodels" / "own_photos" / "1" / "model.tflite").exists()

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, digit in enumerate("0123"):
        shutil.copy(os.path.join(test_dir, digit, "00001.png"), frames / f"frame_{i:03d}.png")
    example = python_block(ROOT / "docs" / "export.md", "## On a robot")
    exec(compile(example, "docs/export.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("frames/frame_") for line in lines)
    assert all(line.split()[1] in {str(i) for i in range(10)} for line in lines)
