"""BVH text (mbcli/rig/bvh_io.py): the writer checked by independent readers (pybvh, bvhio, tests/rig_fixture.py's),
header format and units, a world-frame walk on the video's timeline; the reader checked against hand-computed
positions, pybvh and bvhio, and its error paths; our reader reads our writer back.

Tests that read ../shared/data/cmu skip visibly when it is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from rig_fixture import TINY, TINY_XYZ, J, fk_from_text, read_bvh_text, synthetic_motion, world_walk

from mbcli.errors import ConfigError, ExportError
from mbcli.rig.bvh_io import bvh_positions, format_bvh, parse_bvh, read_bvh
from mbcli.rig.h36m_rig import JOINT_NAMES, pose_to_rig
from mbcli.rig.kinematics import hold_timeline

CMU_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu"
needs_cmu = pytest.mark.skipif(not (CMU_DIR / "bvh" / "09_03.bvh").is_file(),
                               reason=f"CMU BVH data not found in {CMU_DIR}")

# ------------------------------------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    pose, xyz = synthetic_motion()
    motion = pose_to_rig(pose)
    path = tmp_path_factory.mktemp("bvh") / "synth.bvh"
    path.write_text(format_bvh(motion))
    return pose, xyz, path, motion


def test_header_and_hierarchy(synth_file):
    pose, _, path, _ = synth_file
    text = path.read_text()
    lines = text.splitlines()
    motion = lines.index("MOTION")
    assert lines[motion + 1] == f"Frames: {pose.num_frames}"
    assert lines[motion + 2] == "Frame Time: 0.03333333"
    assert len(lines) == motion + 3 + pose.num_frames
    assert re.findall(r"(?:ROOT|JOINT) (\w+)", text) == list(JOINT_NAMES)
    assert text.count("End Site") == 5
    assert "CHANNELS 6 Xposition Yposition Zposition Yrotation Zrotation Xrotation" in text
    assert "JOINT LeftLeg\n\t\t{\n\t\t\tOFFSET 0.000000 -0.450000 0.000000\n\t\t\tCHANNELS 3 Zrotation Yrotation Xrotation" in text
    assert text.count("CHANNELS 3 Yrotation Xrotation Zrotation") == 6  # arms
    assert text.count("CHANNELS 3 ") == J - 1
    assert all(len(row.split()) == 6 + 3 * (J - 1) for row in lines[motion + 3 :])


def test_independent_reader_reproduces_the_targets(synth_file):
    _, _, path, motion = synth_file
    names, fk = fk_from_text(path.read_text())
    assert names == list(JOINT_NAMES)
    np.testing.assert_allclose(fk, motion.targets, atol=2e-6)


def test_our_reader_reads_our_writer(synth_file):
    _, _, path, motion = synth_file
    parsed = read_bvh(path)
    assert parsed.names[:3] == JOINT_NAMES[:3] and parsed.frame_time == pytest.approx(1 / 30, abs=1e-8)
    np.testing.assert_allclose(bvh_positions(parsed, JOINT_NAMES), motion.fk(), atol=2e-6)


def test_pybvh_reads_same_positions(synth_file):
    pybvh = pytest.importorskip("pybvh")
    _, _, path, motion = synth_file
    bvh = pybvh.read_bvh_file(path, world_up="+y")
    assert bvh.frame_count == motion.num_frames
    assert bvh.frame_time == pytest.approx(1 / 30, abs=1e-8)
    names = [n.name for n in bvh.nodes]
    positions = bvh.node_positions(centered="world")[:, [names.index(n) for n in JOINT_NAMES]]
    assert np.abs(positions - motion.targets).max() < 1e-5


def test_bvhio_reads_same_positions(synth_file):
    bvhio = pytest.importorskip("bvhio")
    _, _, path, motion = synth_file
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, *_ in root.layout()}
    for f in range(0, motion.num_frames, 7):
        root.loadPose(f)
        got = np.array([list(joints[n].PositionWorld) for n in JOINT_NAMES])
        assert np.abs(got - motion.targets[f]).max() < 1e-5


# ------------------------------------------------------------------------------------------- writing: the world frame


@pytest.fixture(scope="module")
def world_file(tmp_path_factory):
    """A skeleton-consistent world-frame walk of 2 m along x (video frames 5..64) on a 70-frame timeline."""
    pose, joints = world_walk(T=60)
    motion = hold_timeline(pose_to_rig(pose), 5, 70)
    path = tmp_path_factory.mktemp("bvh") / "world.bvh"
    path.write_text(format_bvh(motion))
    expected = joints[np.clip(np.arange(70) - 5, 0, 59)]  # the first frame held before, the last after
    return path, expected


def test_world_bvh_root_channels_carry_the_walk(world_file):
    path, expected = world_file
    parsed = read_bvh(path)
    assert parsed.frames.shape[0] == 70 and parsed.names[0] == "Hips"
    root = parsed.frames[:, parsed.channel_start[0] : parsed.channel_start[0] + 6]
    x, y, z = (root[:, parsed.channels[0].index(f"{a}position")] for a in "XYZ")
    assert x[-1] - x[0] == pytest.approx(2.0, abs=2e-6)
    np.testing.assert_allclose(x[:6], 0.0, atol=1e-6)  # held before the person appears
    np.testing.assert_allclose(x[64:], 2.0, atol=1e-6)  # and after they leave
    np.testing.assert_allclose(y, 0.95, atol=1e-6)
    np.testing.assert_allclose(z, -3.0, atol=1e-6)
    _, frames, dt = read_bvh_text(path.read_text())  # the independent reader sees the same root columns
    assert dt == pytest.approx(1 / 30, abs=1e-8) and frames[-1, 0] - frames[0, 0] == pytest.approx(2.0, abs=2e-6)


def test_world_bvh_fk_reproduces_the_world_joints(world_file):
    path, expected = world_file
    assert np.abs(bvh_positions(read_bvh(path), JOINT_NAMES) - expected).max() < 1e-5
    names, fk = fk_from_text(path.read_text())
    assert names == list(JOINT_NAMES) and np.abs(fk - expected).max() < 1e-5


def test_world_bvh_pybvh_and_bvhio_agree(world_file):
    path, expected = world_file
    pybvh = pytest.importorskip("pybvh")
    bvh = pybvh.read_bvh_file(path, world_up="+y")
    names = [n.name for n in bvh.nodes]
    positions = bvh.node_positions(centered="world")[:, [names.index(n) for n in JOINT_NAMES]]
    assert np.abs(positions - expected).max() < 1e-5
    bvhio = pytest.importorskip("bvhio")
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, *_ in root.layout()}
    for f in (0, 5, 33, 64, 69):
        root.loadPose(f)
        got = np.array([list(joints[n].PositionWorld) for n in JOINT_NAMES])
        assert np.abs(got - expected[f]).max() < 1e-5


def test_units_cm_scales_lengths():
    pose, _ = synthetic_motion(T=10)
    motion = pose_to_rig(pose)
    names, fk_m = fk_from_text(format_bvh(motion))
    text = format_bvh(motion, units="cm")
    _, fk_cm = fk_from_text(text)
    np.testing.assert_allclose(fk_cm / 100, fk_m, atol=1e-6)
    assert "OFFSET -16.000000 0.000000 0.000000" in text  # right shoulder, 0.16 m
    with pytest.raises(ExportError, match="units"):
        format_bvh(motion, units="in")


# ------------------------------------------------------------------------------------------- reading: synthetic BVH

def test_parse_tiny_bvh_structure():
    m = parse_bvh(TINY)
    assert m.names == ("root", "a", "b", "b_end")
    assert m.parents == (-1, 0, 1, 2)
    assert m.channel_start == (0, 6, 9, 11)
    assert m.channels[2] == ("Yrotation", "Zrotation") and m.channels[3] == ()
    assert m.frames.shape == (4, 11) and m.frame_time == pytest.approx(0.01)
    np.testing.assert_allclose(m.offsets, [[0, 0, 0], [0, 2, 0], [1, 0, 0], [0, 0, 3]])


def test_fk_tiny_bvh_matches_hand_computed_positions():
    m = parse_bvh(TINY)
    np.testing.assert_allclose(bvh_positions(m), TINY_XYZ, atol=1e-12)
    np.testing.assert_allclose(bvh_positions(m, ["b_end", "a"]), TINY_XYZ[:, [3, 1]], atol=1e-12)
    # a point attached to joint a moves rigidly with it
    got = bvh_positions(m, ["p"], extra={"p": ("a", np.array([1.0, 0, 0]))})[:, 0]
    np.testing.assert_allclose(got, TINY_XYZ[:, 2], atol=1e-12)


def test_position_channel_overwrites_offset_component():
    text = TINY.replace("CHANNELS 3 Xrotation Zrotation Yrotation", "CHANNELS 4 Xrotation Yposition Zrotation Yrotation")
    rows = ["1 0 2 3 0 0   0 5 0 0   0 0", "0 90 0 0 0 0   0 5 0 0   0 0",
            "0 0 0 0 0 0   90 5 90 0   90 0", "0 0 0 0 90 90   0 5 0 0   0 0"]
    text = text.split("Frame Time: 0.01\n")[0] + "Frame Time: 0.01\n" + "\n".join(rows) + "\n"
    xyz = bvh_positions(parse_bvh(text))
    np.testing.assert_allclose(xyz[0, 1], [1, 7, 3], atol=1e-12)  # a's OFFSET y (2) replaced by 5
    np.testing.assert_allclose(xyz[1, 1], [-5, 0, 0], atol=1e-12)


def test_crlf_and_tabs_are_accepted():
    m = parse_bvh(TINY.replace("\n", "\r\n").replace("  ", "\t"))
    np.testing.assert_allclose(bvh_positions(m), TINY_XYZ, atol=1e-12)


@pytest.mark.parametrize("bad", [
    ("MOTION\nFrames: 4", "MOTIONS\nFrames: 4"),  # no MOTION section
    ("CHANNELS 2 Yrotation Zrotation", "CHANNELS 2 Yrotation Wrotation"),  # unknown channel
    ("CHANNELS 2 Yrotation Zrotation", "CHANNELS 2 Yrotation Yrotation"),  # repeated channel
    ("OFFSET 1 0 0", "OFFSET 1 0"),  # short OFFSET
    ("OFFSET 0 0 3\n      }", "OFFSET 0 0 3\n      CHANNELS 1 Xrotation\n      }"),  # channels on an end site
    ("  }\n}\nMOTION", "  }\nMOTION"),  # unbalanced braces
    ("JOINT b", "JOINT a"),  # duplicate name
    ("Frames: 4", "Frames: 5"),  # frame count mismatch
    ("Frame Time: 0.01", "Frame Time: fast"),
    ("0 0 0 0 90 90   0 0 0   0 0", "0 0 0 0 90 90   0 0 0   0"),  # short row
    ("0 0 0 0 90 90   0 0 0   0 0", "0 0 0 0 90 90   0 0 0   0 x"),  # not a number
    ("0 0 0 0 90 90   0 0 0   0 0", "0 0 0 0 90 90   0 0 0   0 nan"),
])
def test_malformed_bvh_raises_config_error_naming_the_file(tmp_path, bad):
    old, new = bad
    assert old in TINY
    path = tmp_path / "broken.bvh"
    path.write_text(TINY.replace(old, new, 1))
    with pytest.raises(ConfigError, match="broken.bvh") as e:
        read_bvh(path)
    assert "\n" not in str(e.value)


def test_missing_bvh_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nothere.bvh"):
        read_bvh(tmp_path / "nothere.bvh")


# ------------------------------------------------------------------------------------------- reading: real files


@needs_cmu
def test_fk_matches_pybvh_on_a_shared_file():
    pybvh = pytest.importorskip("pybvh", reason="pybvh (test dependency) not installed")
    path = CMU_DIR / "bvh" / "09_03.bvh"
    m = read_bvh(path)
    ours = bvh_positions(m)
    ref = pybvh.read_bvh_file(path, world_up="+y")
    names = [n.name for n in ref.nodes]
    mapped = [f"EndSite{n[:-4]}" if n.endswith("_end") else n for n in m.names]
    theirs = ref.node_positions(centered="world")[:, [names.index(n) for n in mapped]]
    assert ours.shape == theirs.shape == (129, 57, 3)
    assert np.abs(ours - theirs).max() < 1e-4  # file units (cm)


@needs_cmu
def test_fk_matches_bvhio_on_a_shared_file():
    bvhio = pytest.importorskip("bvhio", reason="bvhio (test dependency) not installed")
    path = CMU_DIR / "bvh" / "09_03.bvh"
    m = read_bvh(path)
    joints = [n for n in m.names if not n.endswith("_end")]
    ours = bvh_positions(m, joints)
    root = bvhio.readAsHierarchy(str(path))
    by_name = {j.Name: j for j, *_ in root.layout()}
    for f in (0, 40, 128):
        root.loadPose(f)
        theirs = np.array([list(by_name[n].PositionWorld) for n in joints])
        assert np.abs(ours[f] - theirs).max() < 1e-4
