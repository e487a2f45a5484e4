"""Tests for mbcli.detect: the load_detector factory, the default RTMDet + BlazePose backend (real models from
weights/ on real frames in tests/assets/), its geometry helpers, the ONNX conversion (against the TFLite original
when ai-edge-litert and ../shared/models are there), and the mmpose adapter (with a FAKE mmpose, see below)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from mbcli.detect import DETECTORS, load_detector
from mbcli.detect import base as detect_base
from mbcli.detect.onnx_blazepose import (
    CROP,
    BlazePoseDetector,
    crop_to_image_affine,
    refine_from_heatmap,
    roi_from_box,
    roi_from_landmarks,
)
from mbcli.errors import ConfigError, DependencyError, WeightsError
from mbcli.skeletons import BLAZEPOSE33
from mbcli.types import FramePoses

ASSETS = Path(__file__).parent / "assets"
REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
SPORTS = [ASSETS / f"detect_sports2d_{i:03d}.jpg" for i in (60, 61, 62)]  # 640x360, frames 60-62 of sports2d_demo
FACING = ASSETS / "detect_pose2sim_single_000.jpg"  # 360x640, frame 0 of pose2sim_single_cam01: a man facing us


def _rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return np.ascontiguousarray(img[:, :, ::-1])


@pytest.fixture(scope="module")
def detector() -> BlazePoseDetector:
    return load_detector("default", num_threads=2)


# ---- factory -----------------------------------------------------------------------------------------------------
def test_unknown_detector_name_lists_valid_names():
    with pytest.raises(ConfigError) as e:
        load_detector("openpose")
    for name in DETECTORS:
        assert name in str(e.value)


def test_unknown_option_and_model_are_config_errors():
    with pytest.raises(ConfigError, match="bad option"):
        load_detector("default", no_such_option=1)
    with pytest.raises(ConfigError, match="lite, full, heavy"):
        load_detector("default", model="huge")


def test_default_detector_follows_protocol(detector):
    assert isinstance(detector, detect_base.PoseDetector)
    assert detector.skeleton is BLAZEPOSE33


# ---- the real default detector on real frames ----------------------------------------------------------------------
def test_finds_people_with_keypoints_inside_their_boxes(detector):
    detector.reset()
    fp = detector(_rgb(SPORTS[0]), 60)
    assert isinstance(fp, FramePoses)
    assert fp.skeleton.name == "blazepose33" and fp.keypoints_xy.shape[1:] == (33, 2)
    assert fp.num_people >= 2  # the walker and the jumper on the box
    assert np.all((fp.keypoint_scores >= 0) & (fp.keypoint_scores <= 1))
    assert np.all((fp.box_scores > 0) & (fp.box_scores <= 1))
    for n in range(fp.num_people):
        x1, y1, x2, y2 = fp.boxes_xyxy[n]
        margin = 0.15 * max(x2 - x1, y2 - y1)
        conf = fp.keypoint_scores[n] >= 0.5
        assert conf.sum() >= 15
        xy = fp.keypoints_xy[n][conf]
        inside = (xy[:, 0] >= x1 - margin) & (xy[:, 0] <= x2 + margin) & (xy[:, 1] >= y1 - margin) & (
            xy[:, 1] <= y2 + margin)
        assert inside.mean() >= 0.9


def test_left_right_not_swapped_for_a_person_facing_the_camera(detector):
    detector.reset()
    fp = detector(_rgb(FACING), 0)
    assert fp.num_people >= 1
    n = int(np.argmax((fp.boxes_xyxy[:, 2] - fp.boxes_xyxy[:, 0]) * (fp.boxes_xyxy[:, 3] - fp.boxes_xyxy[:, 1])))
    xy, sk = fp.keypoints_xy[n], fp.skeleton
    # facing the camera, the person's left side is on the image's right
    for joint in ("shoulder", "hip", "eye"):
        assert xy[sk.idx(f"left_{joint}"), 0] > xy[sk.idx(f"right_{joint}"), 0], joint
    # upright: head above hips above ankles
    assert xy[sk.idx("nose"), 1] < xy[sk.idx("left_hip"), 1] < xy[sk.idx("left_ankle"), 1]


def test_empty_frame_gives_zero_people(detector):
    detector.reset()
    for i, frame in enumerate([np.full((360, 640, 3), 127, np.uint8), np.zeros((64, 48, 3), np.uint8)]):
        fp = detector(frame, i)
        assert fp.num_people == 0
        assert fp.keypoints_xy.shape == (0, 33, 2) and fp.boxes_xyxy.shape == (0, 4)


def test_padding_the_frame_shifts_keypoints_by_the_padding(detector):
    """Letterbox/back-mapping check at another size and aspect: put the frame at (dx, dy) in a larger canvas."""
    img = _rgb(FACING)
    dx, dy = 150, 40
    canvas = np.full((img.shape[0] + 2 * dy, img.shape[1] + 2 * dx + 17, 3), 114, np.uint8)
    canvas[dy:dy + img.shape[0], dx:dx + img.shape[1]] = img
    detector.reset()
    a = detector(img, 0)
    detector.reset()
    b = detector(canvas, 0)

    def main(fp):
        return int(np.argmax(fp.keypoint_scores.sum(1) * (fp.boxes_xyxy[:, 3] - fp.boxes_xyxy[:, 1])))

    ka, kb = a.keypoints_xy[main(a)], b.keypoints_xy[main(b)]
    conf = (a.keypoint_scores[main(a)] > 0.7) & (b.keypoint_scores[main(b)] > 0.7)
    assert conf.sum() >= 15
    shift = np.median(kb[conf] - ka[conf], axis=0)
    height = np.ptp(ka[conf, 1])
    assert abs(shift[0] - dx) < 0.03 * height and abs(shift[1] - dy) < 0.03 * height


def test_consecutive_frames_are_tracked_and_detect_many_matches(detector):
    frames = [_rgb(p) for p in SPORTS]
    detector.reset()
    one_by_one = [detector(f, 60 + i) for i, f in enumerate(frames)]
    detector.reset()
    batch = detector.detect_many(frames, [60, 61, 62])
    for a, b in zip(one_by_one, batch):
        np.testing.assert_allclose(a.keypoints_xy, b.keypoints_xy, atol=1e-3)
    counts = [fp.num_people for fp in batch]
    assert min(counts) >= 2
    # the walker (highest box score) moves a few pixels between frames, not across the image
    walkers = [fp.keypoints_xy[int(np.argmax(fp.box_scores))] for fp in batch]
    assert np.median(np.linalg.norm(walkers[1] - walkers[0], axis=-1)) < 15


def test_sparse_rtmdet_schedule_still_finds_people():
    det = load_detector("default", detect_every=3, num_threads=2)
    frames = [_rgb(p) for p in SPORTS]
    out = det.detect_many(frames, [60, 61, 62])
    assert [fp.num_people >= 2 for fp in out] == [True] * 3
    assert det.stats["detector_runs"] == 1  # the people stayed tracked: RTMDet ran only on the first frame


def test_bad_frames_are_rejected(detector):
    with pytest.raises(ValueError):
        detector(np.zeros((10, 10), np.uint8), 0)
    with pytest.raises(ValueError):
        detector(np.zeros((10, 10, 3), np.float32), 0)


# ---- geometry helpers --------------------------------------------------------------------------------------------
def test_roi_affine_maps_crop_centre_and_axes():
    roi = np.array([300.0, 200.0, 128.0, np.pi / 2])  # side 128 -> 0.5 px per crop px; rotated 90 degrees
    A = crop_to_image_affine(roi)
    np.testing.assert_allclose(A @ [CROP / 2, CROP / 2, 1], [300, 200], atol=1e-9)
    # the crop's "up" (0,-1) points along +x in the image when the ROI is rotated by +90 degrees
    np.testing.assert_allclose(A @ [CROP / 2, 0, 1], [300 + 64, 200], atol=1e-9)


def test_roi_from_landmarks_upright_and_sized():
    xy = np.zeros((39, 2))
    xy[33] = [100, 200]  # body centre
    xy[34] = [100, 100]  # scale point straight above: upright, radius 100
    cx, cy, side, angle = roi_from_landmarks(xy)
    assert (cx, cy) == (100, 200) and side == pytest.approx(300.0) and angle == pytest.approx(0.0)
    xy[34] = [200, 200]  # to the right: the body lies along +x
    assert roi_from_landmarks(xy)[3] == pytest.approx(np.pi / 2)
    assert list(roi_from_box(np.array([0, 0, 40, 100]), 1.25)) == [20, 50, 125, 0]


def test_heatmap_refinement_moves_to_the_peak_and_keeps_weak_points():
    hm = np.full((1, 64, 64, 2), -20.0, np.float32)
    hm[0, 30, 40, 0] = 10.0  # landmark 0: sharp peak at column 40, row 30
    uv = np.array([[[41.5 / 64, 31.2 / 64], [0.25, 0.75]]])
    out = refine_from_heatmap(uv, hm)
    np.testing.assert_allclose(out[0, 0], [40 / 64, 30 / 64], atol=1e-4)
    np.testing.assert_allclose(out[0, 1], uv[0, 1])  # no confident cell: unchanged


# ---- weights -----------------------------------------------------------------------------------------------------
def test_weights_dir_override_and_checks(tmp_path, monkeypatch):
    assert detect_base.weights_dir() == REPO / "weights"
    monkeypatch.setenv(detect_base.WEIGHTS_ENV, str(tmp_path))
    assert detect_base.weights_dir() == tmp_path.resolve()
    with pytest.raises(WeightsError, match="missing"):
        detect_base.weights_path("pose_landmark_full.onnx")
    (tmp_path / "m.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    (tmp_path / "manifest.toml").write_text('[[model]]\nname = "m"\nfile = "m.onnx"\nsha256 = "' + "0" * 64 + '"\n')
    with pytest.raises(WeightsError, match="sha256"):
        detect_base.weights_path("m.onnx")


def test_shipped_weights_match_manifest():
    import tomllib

    entries = tomllib.loads((REPO / "weights" / "manifest.toml").read_text())["model"]
    for name in ("rtmdet_nano_person_320.onnx", "pose_landmark_full.onnx"):
        (entry,) = [e for e in entries if e["file"] == name]
        assert entry["licence"] and entry["source"]
        assert detect_base.sha256_file(REPO / "weights" / name) == entry["sha256"]


# ---- ONNX conversion vs the TFLite original ------------------------------------------------------------------------
def test_onnx_landmarks_equal_tflite_on_a_real_crop(detector):
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed: no TFLite check")
    tflite_path = SHARED_MODELS / "pose_landmark_full.tflite"
    if not tflite_path.is_file():
        pytest.skip(f"{tflite_path} not present: no TFLite reference to compare with")
    frame = _rgb(FACING)
    crops = detector.landmarks.crops(frame, np.stack([roi_from_box(np.array([77, 109, 187, 391]), 1.25),
                                                       roi_from_box(np.array([0, 96, 46, 254]), 1.25)]))
    sess = detector.landmarks.session
    got = sess.run(["Identity", "Identity_1", "Identity_3"], {sess.get_inputs()[0].name: crops})
    interp = litert.Interpreter(model_path=str(tflite_path),
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    outs = {d["name"]: d["index"] for d in interp.get_output_details()}
    for b in range(len(crops)):
        interp.set_tensor(interp.get_input_details()[0]["index"], crops[b:b + 1])
        interp.invoke()
        lm = interp.get_tensor(outs["Identity"]).reshape(39, 5)
        onnx_lm = got[0][b].reshape(39, 5)
        assert np.abs(lm[:, :2] - onnx_lm[:, :2]).max() < 0.01  # crop pixels
        assert np.abs(lm[:, 3:] - onnx_lm[:, 3:]).max() < 0.01  # visibility / presence logits
        assert abs(interp.get_tensor(outs["Identity_1"]).item() - got[1][b].item()) < 1e-4
        assert np.abs(interp.get_tensor(outs["Identity_3"])[0] - got[2][b]).max() < 0.01


# ---- mmpose adapter ----------------------------------------------------------------------------------------------
# mmpose cannot be installed here. The tests below inject a FAKE `mmpose` (and `mmdet`) package into sys.modules that
# mimics MMPose 1.x's top-down API (init_model, inference_topdown -> samples with pred_instances.keypoints /
# keypoint_scores) so the adapter's plumbing (BGR input, box formats, skeleton choice, score clipping) is tested. The
# real-model tests are the ones above, which run the actual default detector.
class _Obj(types.SimpleNamespace):
    pass


def _install_fake_mmpose(monkeypatch, num_keypoints: int = 17, calls: list | None = None):
    calls = calls if calls is not None else []

    def init_model(config, checkpoint, device="cpu"):
        calls.append(("init_model", config, checkpoint, device))
        return _Obj(dataset_meta={"num_keypoints": num_keypoints})

    def inference_topdown(model, img, bboxes, bbox_format="xyxy"):
        calls.append(("inference_topdown", img, np.array(bboxes), bbox_format))
        out = []
        for x1, y1, x2, y2 in bboxes:
            kp = np.stack([np.linspace(x1, x2, num_keypoints), np.linspace(y1, y2, num_keypoints)], -1)[None]
            out.append(_Obj(pred_instances=_Obj(keypoints=kp, keypoint_scores=np.full((1, num_keypoints), 1.3))))
        return out

    def init_detector(config, checkpoint, device="cpu"):
        return _Obj()

    def inference_detector(model, img):
        calls.append(("inference_detector", img))
        return _Obj(pred_instances=_Obj(bboxes=np.array([[10, 20, 110, 220], [5, 5, 9, 9], [0, 0, 50, 50]]),
                                        scores=np.array([0.9, 0.8, 0.1]), labels=np.array([0, 3, 0])))

    mmpose, mmpose_apis = types.ModuleType("mmpose"), types.ModuleType("mmpose.apis")
    mmpose_apis.init_model, mmpose_apis.inference_topdown = init_model, inference_topdown
    mmpose.apis = mmpose_apis
    mmdet, mmdet_apis = types.ModuleType("mmdet"), types.ModuleType("mmdet.apis")
    mmdet_apis.init_detector, mmdet_apis.inference_detector = init_detector, inference_detector
    mmdet.apis = mmdet_apis
    for name, mod in (("mmpose", mmpose), ("mmpose.apis", mmpose_apis), ("mmdet", mmdet), ("mmdet.apis", mmdet_apis)):
        monkeypatch.setitem(sys.modules, name, mod)
    return calls


@pytest.fixture
def model_files(tmp_path):
    cfg, ckpt = tmp_path / "pose.py", tmp_path / "pose.pth"
    cfg.write_text("# fake config\n")
    ckpt.write_bytes(b"fake")
    return str(cfg), str(ckpt)


def test_mmpose_missing_raises_dependency_error(monkeypatch, model_files):
    monkeypatch.setitem(sys.modules, "mmpose", None)  # makes `import mmpose` fail
    monkeypatch.setitem(sys.modules, "mmpose.apis", None)
    with pytest.raises(DependencyError, match="pip install mmpose mmdet mmcv"):
        load_detector("mmpose", config=model_files[0], checkpoint=model_files[1])


def test_mmpose_needs_config_and_checkpoint(monkeypatch, model_files):
    _install_fake_mmpose(monkeypatch)
    with pytest.raises(ConfigError, match="config"):
        load_detector("mmpose")
    with pytest.raises(ConfigError, match="not found"):
        load_detector("mmpose", config=model_files[0], checkpoint="/nonexistent/pose.pth")


def test_mmpose_adapter_with_fake_mmdet_boxes(monkeypatch, model_files):
    calls = _install_fake_mmpose(monkeypatch)
    det = load_detector("mmpose", config=model_files[0], checkpoint=model_files[1], det_config=model_files[0],
                        det_checkpoint=model_files[1])
    assert det.skeleton.name == "coco17"
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[..., 0] = 255  # pure red in RGB
    fp = det(frame, 7)
    assert fp.frame_index == 7 and fp.num_people == 1  # the class-3 box and the 0.1-score box are dropped
    np.testing.assert_allclose(fp.boxes_xyxy, [[10, 20, 110, 220]])
    assert fp.keypoints_xy.shape == (1, 17, 2) and np.all(fp.keypoint_scores == 1.0)  # 1.3 clipped
    img = [c for c in calls if c[0] == "inference_topdown"][0][1]
    assert img[0, 0, 2] == 255 and img[0, 0, 0] == 0  # OpenMMLab models receive BGR


def test_mmpose_adapter_with_shipped_rtmdet_boxes(monkeypatch, model_files):
    _install_fake_mmpose(monkeypatch, num_keypoints=26)
    det = load_detector("mmpose", config=model_files[0], checkpoint=model_files[1])
    assert det.skeleton.name == "halpe26"
    fp = det(_rgb(FACING), 0)  # real boxes from the shipped RTMDet, fake poses inside them
    assert fp.num_people >= 1 and fp.keypoints_xy.shape[1:] == (26, 2)
    assert det(np.full((100, 100, 3), 127, np.uint8), 1).num_people == 0


def test_heavy_landmark_model_is_not_shipped_but_builds_bit_exactly(tmp_path):
    """pose_landmark_heavy.onnx (27.6 MB, no command uses it) stays out of the repository so that a checkout and the
    packed Human3.6M data fit a 64 MiB GPU payload; asking for it says how to build it, and that build reproduces
    the manifest's sha256."""
    import subprocess
    import tomllib

    (entry,) = [e for e in tomllib.loads((REPO / "weights" / "manifest.toml").read_text())["model"]
                if e["name"] == "blazepose-landmark-heavy"]
    assert entry["shipped"] is False and "tools/convert_blazepose.py" in entry["build"]
    if not (REPO / "weights" / entry["file"]).exists():
        with pytest.raises(WeightsError, match="is not shipped .* build it once: pip install tflite onnx"):
            load_detector("blazepose-heavy")
    pytest.importorskip("tflite", reason="tflite not installed: the bit-exact rebuild is not checked")
    pytest.importorskip("onnx", reason="onnx not installed: the bit-exact rebuild is not checked")
    src = SHARED_MODELS / "pose_landmark_heavy.tflite"
    if not src.is_file():
        pytest.skip(f"{src} not present: the bit-exact rebuild is not checked")
    out = tmp_path / entry["file"]
    subprocess.run([sys.executable, str(REPO / "tools" / "convert_blazepose.py"), "--tflite", str(src), "--out",
                    str(out)], check=True, capture_output=True)
    assert detect_base.sha256_file(out) == entry["sha256"]
