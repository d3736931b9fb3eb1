"""Packaging that pyproject.toml cannot express: the demo's files outside the package ship inside it.

`vras demo` must work from an installed (non-editable) package, so the wheel carries the Streamlit app
(`apps/`), the recipes (`configs/`) and the Streamlit settings (`.streamlit/`) as data of
`vras_keras.demo`. Each is a package mapped onto the checkout's top-level folder, built from the same files
(no second copy to keep in step); `vras_keras.demo.launcher.shipped_dir` finds them in an installation and
falls back to the top-level folders in a checkout. Everything else (metadata, dependencies, scripts) is in
pyproject.toml.
"""

from setuptools import find_packages, setup

# package inside the wheel -> the checkout folder it is built from (launcher.SHIPPED names the same three)
SHIPPED = {
    "vras_keras.demo.app": "apps",
    "vras_keras.demo.app.views": "apps/views",
    "vras_keras.demo.configs": "configs",
    "vras_keras.demo.settings": ".streamlit",
}

setup(
    packages=find_packages(include=["vras_keras", "vras_keras.*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={
        "vras_keras.models": ["index.json"],  # `vras list` reads it (cli/list_models.py)
        "vras_keras.demo": ["shipped/*.npz", "shipped/*.md", "shipped/*.yaml"],  # the page's first landscape
        "vras_keras.demo.app": ["*.py"],
        "vras_keras.demo.app.views": ["*.py"],
        "vras_keras.demo.configs": ["*.yaml"],
        "vras_keras.demo.settings": ["*.toml"],
    },
)
