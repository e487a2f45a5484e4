"""Which files the mbcli distribution carries; everything else about the project is in pyproject.toml.

The packages are ``mbcli*`` plus ``mbcli._weights``, a data-only package mapped onto the top-level ``weights/``
folder, so that a wheel (and a non-editable ``pip install .``) carries the model files ``mbcli.weights`` looks for
when there is no checkout. Of ``weights/`` it takes ``manifest.toml`` and each file the manifest marks as shipped
(``shipped`` absent or true) that exists, with its ``<stem>.partN<suffix>`` pieces; not the campaign log, the
campaign weights or the evaluation JSONs (no command reads them from an installed copy), nor a file a user built
from a ``shipped = false`` entry. The package data lives here and not in pyproject.toml because pyproject's
``[tool.setuptools]`` tables would replace these values rather than add to them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages, setup

WEIGHTS = Path(__file__).resolve().parent / "weights"


def shipped_files(folder: Path) -> list[str]:
    """Names in ``folder`` that a wheel carries: the manifest, then each shipped file that exists and its parts."""
    with open(folder / "manifest.toml", "rb") as f:
        models = tomllib.load(f).get("model", [])
    names = ["manifest.toml"]
    for m in models:
        path = folder / m["file"]
        if m.get("shipped", True) is not False and path.is_file():
            names += [m["file"], *sorted(p.name for p in folder.glob(f"{path.stem}.part*{path.suffix}"))]
    return names


if __name__ == "__main__":
    setup(
        packages=[*find_packages(include=["mbcli*"]), "mbcli._weights"],
        package_dir={"mbcli._weights": "weights"},
        package_data={
            "mbcli.train": ["recipes/*.yaml"],
            "mbcli.export": ["*.schema.json"],
            "mbcli._weights": shipped_files(WEIGHTS),
        },
    )
