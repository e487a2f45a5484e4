"""The built wheel carries the shipped weights: build it, install it into a fresh venv, lift the sample from there.

The venv sees the system's site-packages (torch, numpy, ... are never installed here) and gets the wheel with
--no-deps; the test checks that what it imports and loads (mbcli itself, the manifest, the lifter, the detector's
ONNX files) comes from the venv and not from this checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "pose2sim_single_360.mp4"  # 100 frames, two people: the shorter sample clip
PROBE = """
import json, mbcli
from mbcli.detect.onnx_blazepose import LANDMARK_FILES, RTMDET_FILE
from mbcli.weights import DEFAULT_LIFTER, file_path, resolve, weights_dir
print(json.dumps({"mbcli": mbcli.__file__, "weights_dir": str(weights_dir()),
                  "lifter": str(resolve(DEFAULT_LIFTER)[0]),
                  "detector": [str(file_path(RTMDET_FILE)), str(file_path(LANDMARK_FILES["full"]))]}))
"""


def _setup_module():
    spec = importlib.util.spec_from_file_location("mbcli_setup", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # setup() runs only as __main__
    return module


def _manifest_models() -> list[dict]:
    return tomllib.loads((REPO / "weights" / "manifest.toml").read_text())["model"]


def _can_build_wheels() -> str | None:
    """Why this Python cannot build a wheel without downloading anything, or None when it can."""
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed"
    if importlib.util.find_spec("setuptools.command.bdist_wheel") is None and importlib.util.find_spec("wheel") is None:
        return "neither setuptools>=70.1 nor wheel is installed (no bdist_wheel command)"
    return None


def test_package_data_is_the_manifest_and_its_shipped_files(tmp_path):
    """The selection setup.py makes: shipped files that exist, with their parts; nothing else in weights/."""
    shutil.copy(REPO / "weights" / "manifest.toml", tmp_path)
    models = _manifest_models()
    for m in models:
        (tmp_path / m["file"]).write_bytes(b"x")  # every entry's file, the unshipped ones too
    first = Path(next(m["file"] for m in models if m.get("shipped", True)))
    part = f"{first.stem}.part2{first.suffix}"
    (tmp_path / part).write_bytes(b"x")
    (tmp_path / "campaign.toml").write_text("")
    (tmp_path / "eval").mkdir()
    got = _setup_module().shipped_files(tmp_path)
    want = {"manifest.toml", part, *(m["file"] for m in models if m.get("shipped", True) is not False)}
    assert set(got) == want and len(got) == len(want)
    assert not any(m.get("shipped", True) is False and m["file"] in got for m in models)
    (tmp_path / first).unlink()  # a shipped file that is absent (and its parts) is left out, not an error
    assert not {first.name, part} & set(_setup_module().shipped_files(tmp_path))


def _copy_sources(dest: Path) -> None:
    """What the build reads, copied so that setuptools' build/ folder never lands in (or comes from) the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "mbcli", dest / "mbcli", ignore=ignore)
    shutil.copytree(REPO / "weights", dest / "weights", ignore=ignore)
    for m in _manifest_models():  # a user-built unshipped file must stay out of the wheel
        if m.get("shipped", True) is False and not (dest / "weights" / m["file"]).exists():
            (dest / "weights" / m["file"]).write_bytes(b"built by the user")


def _inside(path: str, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


@pytest.mark.slow
def test_installed_wheel_lifts_the_sample_with_its_own_weights(tmp_path):
    why = _can_build_wheels()
    if why:
        pytest.skip(f"cannot build the wheel offline: {why}")
    src, dist, env_dir, work = (tmp_path / d for d in ("src", "dist", "venv", "work"))
    for d in (src, dist, work):
        d.mkdir()
    _copy_sources(src)
    env = {k: v for k, v in os.environ.items() if k not in ("MBCLI_WEIGHTS_DIR", "PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")  # nothing is downloaded, torch least of all

    def run(*cmd: str | Path) -> str:
        r = subprocess.run([str(c) for c in cmd], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        return r.stdout

    run(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "-w", dist)
    (wheel,) = dist.glob("mbcli-*.whl")
    with zipfile.ZipFile(wheel) as z:
        carried = {n.removeprefix("mbcli/_weights/") for n in z.namelist() if n.startswith("mbcli/_weights/")}
    assert carried == set(_setup_module().shipped_files(src / "weights"))
    assert {"manifest.toml", "lifter_small_h36m.pt", "rtmdet_nano_person_320.onnx"} <= carried

    venv.create(env_dir, system_site_packages=True, with_pip=False)  # the system's torch, numpy, ...
    python = env_dir / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", wheel)

    probe = json.loads(run(python, "-c", PROBE))
    for key in ("mbcli", "weights_dir", "lifter", "detector"):
        for path in probe[key] if isinstance(probe[key], list) else [probe[key]]:
            assert _inside(path, env_dir) and not _inside(path, REPO), f"{key} resolved to {path}, not the venv's"
    assert Path(probe["weights_dir"]).name == "_weights"

    run(python, "-m", "mbcli", "lift", SAMPLE, "--out", work / "out", "--formats", "json,bvh,npz", "--no-progress")
    for suffix in ("json", "bvh", "npz"):
        files = list((work / "out").glob(f"*.{suffix}"))
        assert files and all(f.stat().st_size > 0 for f in files), f"no .{suffix} output"
