"""The package as installed: runtime dependencies declared, streamlit confined to the demo wing, and a wheel
that carries the app, the recipes and the Streamlit settings (so `vras demo` works without a checkout)."""

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vras_keras"
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn",
                 "skimage": "scikit-image", "ai_edge_litert": "ai-edge-litert", "keras_hub": "keras-hub",
                 "google": "protobuf"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def requirement_name(requirement: str) -> str:
    return (
        requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower()
    )


def test_only_the_demo_wing_imports_streamlit():
    importers = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "streamlit" in imported_modules(p))
    assert importers, "no module imports streamlit: the scan is broken"
    assert all(p.startswith("vras_keras/demo/") for p in importers), importers


def test_pyproject_declares_every_runtime_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(r) for r in project["dependencies"]}
    demo = {requirement_name(r) for r in project["optional-dependencies"]["demo"]}
    imported = set().union(*(imported_modules(p) for p in PACKAGE.rglob("*.py")))
    third_party = imported - set(sys.stdlib_module_names) - {"vras_keras", "__future__"}
    needed = {DISTRIBUTIONS.get(name, name).lower() for name in third_party}
    assert needed - {"streamlit"} <= declared, sorted(needed - {"streamlit"} - declared)
    assert "streamlit" in demo and "streamlit" not in declared
    pinned = {requirement_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert declared | demo <= pinned, sorted((declared | demo) - pinned)


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel` of a copy of the sources (the checkout keeps no build/ or egg-info)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("vras_keras", "apps", "configs", ".streamlit"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                    "-w", str(out), str(source)], check=True, capture_output=True, text=True, cwd=tmp_path)
    (wheel,) = out.glob("vras_keras-*.whl")
    return wheel


def test_the_wheel_ships_the_app_recipes_and_settings_and_the_launcher_finds_them(tmp_path):
    wheel = build_wheel(tmp_path)
    shipped = {"vras_keras/demo/app/streamlit_app.py": ROOT / "apps" / "streamlit_app.py",
               "vras_keras/demo/app/home.py": ROOT / "apps" / "home.py",  # the navigation's first page
               "vras_keras/demo/settings/config.toml": ROOT / ".streamlit" / "config.toml"}
    shipped |= {f"vras_keras/demo/app/views/{p.name}": p for p in (ROOT / "apps" / "views").glob("*.py")}
    shipped |= {f"vras_keras/demo/configs/{p.name}": p for p in (ROOT / "configs").glob("*.yaml")}
    shipped |= {f"vras_keras/demo/shipped/{p.name}": p for p in (ROOT / "vras_keras" / "demo" / "shipped").iterdir()}
    with zipfile.ZipFile(wheel) as archive:
        for name, original in shipped.items():
            assert archive.read(name) == original.read_bytes(), name  # the same files, not a second copy
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith("dist-info/METADATA"))).decode()
        archive.extractall(tmp_path / "site")
    assert "Requires-Dist: streamlit>=1.67; extra == \"demo\"" in metadata
    # the installed package alone (no checkout on the path, another working directory) finds its files
    probe = (
        "from vras_keras.demo import launcher; "
        "print(launcher.app_path(), launcher.configs_dir(), launcher.settings_file(), launcher.__file__, sep='\\n'); "
        "print(launcher.streamlit_settings()['server.maxUploadSize'])"
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=work, env=env, capture_output=True, text=True, check=True
    )
    app, configs, settings, module, upload = result.stdout.split()
    site = tmp_path / "site" / "vras_keras" / "demo"
    assert Path(module).parent == site
    assert (
        Path(app) == site / "app" / "streamlit_app.py"
        and (Path(app).parent / "views" / "1_Classification.py").is_file()
    )
    assert Path(configs) == site / "configs" and (Path(configs) / "classification.yaml").is_file()
    assert Path(settings) == site / "settings" / "config.toml" and upload == "20"
