"""The default offline 2D keypoint detector: RTMDet-nano person boxes + BlazePose 33 landmarks, both on onnxruntime.

Stages, per frame (pixel coordinates are continuous, origin at the top-left pixel corner):

1. Person boxes (``PersonBoxes``): RTMDet-nano (OpenMMLab, person class, mmdeploy export with NMS inside the graph).
   Input: the frame as BGR, resized keeping its aspect ratio so the long side is 320 (bilinear), padded bottom/right
   to 320x320 with 114, normalised with mean (103.53, 116.28, 123.675) and std (57.375, 57.12, 58.395), NCHW.
   Output ``dets`` (1,K,5) = x1,y1,x2,y2 at the 320 scale + score; mapped back by the per-axis resize factors,
   clipped to the frame, kept above ``match_score_threshold`` (0.05).
2. Landmarks (``BlazePoseLandmarks``): MediaPipe BlazePose GHUM 3D landmark model (Bazarevsky et al., "BlazePose:
   On-device Real-time Body Pose tracking", 2020), converted once from TFLite to ONNX by tools/convert_blazepose.py.
   Input: a 256x256 RGB crop in [0,1] of a square, rotated region of interest (ROI) = (cx, cy, side, angle); the crop
   replicates the border (MediaPipe's ImageToTensor default). Outputs: ``Identity`` (39 x 5: x, y, z in crop pixels
   0..256, visibility and presence logits), ``Identity_1`` pose presence in [0,1] (sigmoid inside the model),
   ``Identity_3`` 64x64x39 heatmap logits, ``Identity_4`` world landmarks (unused). Landmarks 0..32 are the
   blazepose33 joints; 33 and 34 are auxiliary points (body centre, and a point whose distance from it is the body's
   radius) used to place the next ROI; 35..38 are unused.
   As MediaPipe does: a pose is kept when its presence >= ``pose_threshold`` (0.5); x,y are refined from the heatmap
   (sigmoid weights in a 7x7 window around the regressed point, applied when the window's max >= 0.5); visibility and
   presence go through a sigmoid. keypoint_scores = visibility * presence (both in [0,1]: the landmark is in the
   frame and not occluded).
3. ROIs. From a person box: a square around the box centre, side = ``box_scale`` (1.25) x the box's long side,
   upright. From landmarks (MediaPipe's PoseLandmarksToRoi): centre = auxiliary point 33, side = 1.5 x 2 x
   |p34 - p33|, rotated so p33 -> p34 points up in the crop. "Two passes from a box" = landmarks in the box ROI, then
   in the ROI from that first pass's auxiliary points (what MediaPipe's detector-keypoint ROI would give). The
   first pass only places the second, so it runs the cheaper ``first_pass_model`` (default lite).
4. People across frames (multi-person; every person gets landmarks):
   - RTMDet runs every ``detect_every`` frames (default 2: on the clips in ../shared/videos, mean keypoint score
     within 0.01 of running it every frame, for 30 % less CPU; 1 makes every box an RTMDet box), when nobody is
     tracked, and on a frame where a tracked person was lost. Last frame's people are matched to its
     boxes by IoU (>= 0.3) with their landmark boxes.
   - A person matched to a box scored >= ``anchor_score`` (0.3) is re-anchored on it: two passes from the box. On the
     clips in ../shared/videos this beats following the previous landmarks (mean keypoint score 0.93 vs 0.83 on
     pose2sim_single, no drift through fast leaning motions); if it finds no pose, the person's tracked ROI is
     tried.
   - Any other tracked person follows the ROI from their previous landmarks (MediaPipe's tracking, one pass); they
     stay while the pose presence holds (``max_unmatched`` can limit how many RTMDet runs they go unmatched).
   - Each unused box scored >= ``box_score_threshold`` (0.1; small, backlit people score 0.05-0.2), best first,
     not covering someone already found (IoA > 0.6 or IoU > 0.4), starts a new person when two passes find a pose
     (first pass >= 0.1 is enough to place the second); a box under 0.3 also needs a mean keypoint score >= 0.7.
     Boxes that gave no pose are not retried for 5 frames while they stay put.
   - Duplicates (two readings of one body: IoU > 0.5, or close body landmarks) keep the most confident.
   On frames where RTMDet did not run, or for a person no box matched, boxes_xyxy is the box around the landmarks
   with visibility*presence >= 0.5 (all 33 when fewer than 4), grown by 10 %, and box_scores carries the person's
   last RTMDet score.
Frames must be consecutive for tracking to apply; any jump in frame_index resets it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from mbcli import threads
from mbcli.detect.base import DetectorBase, check_frame, weights_path
from mbcli.errors import ConfigError, DependencyError
from mbcli.geometry import box_ioa, box_iou
from mbcli.skeletons import BLAZEPOSE33
from mbcli.types import FramePoses

log = logging.getLogger(__name__)

RTMDET_FILE = "rtmdet_nano_person_320.onnx"
LANDMARK_FILES = {
    "lite": "pose_landmark_lite.onnx",
    "full": "pose_landmark_full.onnx",
    "heavy": "pose_landmark_heavy.onnx",
}

RTMDET_SIZE = 320
RTMDET_PAD = 114
RTMDET_MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
RTMDET_STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)

CROP = 256  # landmark model input side
NUM_LANDMARKS = 39  # 33 body + 2 auxiliary (ROI) + 4 unused
NUM_BODY = 33
AUX_CENTER, AUX_SCALE = 33, 34
ROI_SCALE_FROM_LANDMARKS = 1.5  # MediaPipe PoseLandmarksToRoi: RectTransformation scale 1.5, square_long
HEATMAP_KERNEL = 7  # MediaPipe pose graph: RefineLandmarksFromHeatmap kernel_size 7
HEATMAP_MIN_CONFIDENCE = 0.5
# A first pass from a box ROI only has to place the second: its auxiliary points are usable well below the 0.5
# pose threshold (seen: pose 0.3 on the box, 1.0 on the ROI it gave)
FIRST_PASS_MIN_POSE = 0.1
REJECT_MEMORY = 5
WEAK_BOX = 0.3  # a new person from a box scored below this needs a mean keypoint score >= the next value
WEAK_BOX_MIN_KEYPOINT_SCORE = 0.7  # frames a box without a pose is remembered (not tried again while it stays put)


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise DependencyError("onnxruntime is not installed: pip install 'onnxruntime>=1.18,<2'") from None
    return ort


def _import_cv2():
    try:
        import cv2
    except ImportError:
        raise DependencyError("OpenCV is not installed: pip install 'opencv-python-headless>=4.9,<6'") from None
    return cv2


def _providers(device: str) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        ort = _import_ort()
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("onnxruntime has no CUDA provider here (pip install onnxruntime-gpu); running on the CPU")
        return ["CPUExecutionProvider"]
    raise ConfigError(f"unknown device {device!r}; use cpu or cuda")


def make_session(path, num_threads: int | None, device: str = "cpu"):
    """An onnxruntime session with ``num_threads`` intra-op threads (None: mbcli's choice, mbcli/threads.py)."""
    ort = _import_ort()
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(num_threads) if num_threads else threads.current()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # No busy-waiting between runs: the two models alternate, and spinning pool threads of one session steal the
    # cores the other needs (measured 3x slower with 2 threads on a 2-core machine under load).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=_providers(device))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


# ---- stage 1: person boxes ---------------------------------------------------------------------------------------
class PersonBoxes:
    """RTMDet-nano person detector: frame RGB (H,W,3) uint8 -> boxes_xyxy (N,4) px, scores (N,)."""

    def __init__(self, session, score_threshold: float = 0.3, min_box_px: float = 8.0) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.score_threshold = float(score_threshold)
        self.min_box_px = float(min_box_px)

    def preprocess(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """-> input (1,3,320,320) float32 BGR normalised, (scale_x, scale_y) = resized / original size."""
        cv2 = _import_cv2()
        H, W = frame_rgb.shape[:2]
        s = RTMDET_SIZE / max(H, W)
        new_w, new_h = max(1, int(W * s + 0.5)), max(1, int(H * s + 0.5))
        resized = cv2.resize(frame_rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((RTMDET_SIZE, RTMDET_SIZE, 3), RTMDET_PAD, np.uint8)
        canvas[:new_h, :new_w] = resized[:, :, ::-1]  # RGB -> BGR
        x = (canvas.astype(np.float32) - RTMDET_MEAN_BGR) / RTMDET_STD_BGR
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])  # (1,3,320,320)
        return x, (new_w / W, new_h / H)

    def __call__(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        H, W = frame_rgb.shape[:2]
        x, (sx, sy) = self.preprocess(frame_rgb)
        outs = self.session.run(None, {self.input_name: x})
        dets = np.asarray(outs[0], np.float32).reshape(-1, 5)  # (K,5) at 320 scale
        if len(outs) > 1:  # labels: the person model has one class (0); keep it explicit
            labels = np.asarray(outs[1]).reshape(-1)
            dets = dets[labels == 0]
        dets = dets[dets[:, 4] >= self.score_threshold]
        boxes = dets[:, :4] / np.array([sx, sy, sx, sy], np.float32)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, W)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, H)
        wh = boxes[:, 2:] - boxes[:, :2]
        keep = (wh[:, 0] >= self.min_box_px) & (wh[:, 1] >= self.min_box_px)
        boxes, scores = boxes[keep], dets[keep, 4]
        order = np.argsort(-scores, kind="stable")
        return boxes[order].astype(np.float32), scores[order].astype(np.float32)


# ---- stage 2: landmarks in a ROI ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Landmarks:
    """BlazePose output for M ROIs: xy (M,39,2) image px; visibility, presence (M,39) in [0,1]; pose (M,) in [0,1]."""

    xy: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    pose: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """(M,33) keypoint scores = visibility * presence of the body landmarks."""
        return (self.visibility * self.presence)[:, :NUM_BODY]


def roi_from_box(box_xyxy: np.ndarray, scale: float) -> np.ndarray:
    """Upright square ROI (cx, cy, side, angle) around a box, side = scale x its long side."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1, 1.0) * scale, 0.0], np.float64)


def roi_from_landmarks(xy39: np.ndarray) -> np.ndarray:
    """MediaPipe's ROI from the auxiliary points: centre p33, side 1.5 x 2|p34 - p33|, p33 -> p34 up in the crop."""
    c = np.asarray(xy39[AUX_CENTER], np.float64)
    d = np.asarray(xy39[AUX_SCALE], np.float64) - c
    side = 2.0 * math.hypot(d[0], d[1]) * ROI_SCALE_FROM_LANDMARKS
    angle = math.atan2(d[0], -d[1])  # the crop's up (0,-1) maps to the image direction d / |d|
    return np.array([c[0], c[1], max(side, 1.0), angle], np.float64)


def crop_to_image_affine(roi: np.ndarray) -> np.ndarray:
    """(2,3) A with p_image = A @ [u, v, 1] for continuous crop coordinates u, v in [0, 256]."""
    cx, cy, side, angle = (float(v) for v in roi)
    k = side / CROP
    c, s = math.cos(angle) * k, math.sin(angle) * k
    lin = np.array([[c, -s], [s, c]])
    t = np.array([cx, cy]) - lin @ np.array([CROP / 2, CROP / 2])
    return np.concatenate([lin, t[:, None]], axis=1)


class BlazePoseLandmarks:
    """BlazePose landmark model: (frame, ROIs (M,4)) -> Landmarks of each ROI, one batched inference."""

    def __init__(self, session, refine_with_heatmap: bool = True) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        names = [o.name for o in session.get_outputs()]
        self.outputs = [n for n in ("Identity", "Identity_1", "Identity_3") if n in names]
        if self.outputs[:2] != ["Identity", "Identity_1"]:
            raise ConfigError(f"landmark model outputs {names} lack Identity / Identity_1")
        self.refine = refine_with_heatmap and "Identity_3" in self.outputs

    def crops(self, frame_rgb: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """(M,256,256,3) float32 RGB in [0,1]: each ROI warped to the model's input, border replicated."""
        cv2 = _import_cv2()
        out = np.empty((len(rois), CROP, CROP, 3), np.float32)
        for m, roi in enumerate(rois):
            A = crop_to_image_affine(roi)
            # cv2 works in pixel-index coordinates (centres at integers): index = continuous - 0.5 on both sides
            M = A.copy()
            M[:, 2] = A[:, :2] @ np.array([0.5, 0.5]) + A[:, 2] - 0.5
            crop = cv2.warpAffine(frame_rgb, M, (CROP, CROP), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REPLICATE)
            out[m] = crop
        out *= 1.0 / 255.0
        return out

    def __call__(self, frame_rgb: np.ndarray, rois: np.ndarray) -> Landmarks:
        rois = np.asarray(rois, np.float64).reshape(-1, 4)
        M = len(rois)
        if M == 0:
            z = np.zeros((0, NUM_LANDMARKS), np.float32)
            return Landmarks(np.zeros((0, NUM_LANDMARKS, 2), np.float32), z, z, np.zeros(0, np.float32))
        outs = dict(zip(self.outputs, self.session.run(self.outputs, {self.input_name: self.crops(frame_rgb, rois)})))
        raw = np.asarray(outs["Identity"], np.float32).reshape(M, NUM_LANDMARKS, 5)
        pose = np.asarray(outs["Identity_1"], np.float32).reshape(M)
        uv = raw[..., :2].astype(np.float64)  # crop pixels 0..256
        if self.refine:
            uv = refine_from_heatmap(uv / CROP, np.asarray(outs["Identity_3"], np.float32)) * CROP
        xy = np.empty_like(uv)
        for m in range(M):
            A = crop_to_image_affine(rois[m])
            xy[m] = uv[m] @ A[:, :2].T + A[:, 2]
        return Landmarks(xy.astype(np.float32), _sigmoid(raw[..., 3]), _sigmoid(raw[..., 4]), pose)


def refine_from_heatmap(uv01: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmap: uv01 (M,L,2) normalised crop coordinates, heatmap (M,h,w,L) logits.

    For each landmark, the sigmoid of the heatmap in a kernel x kernel window centred on cell (int(u*w), int(v*h))
    (cells outside the map count as zero) weights the cells' indices; the landmark moves to the weighted mean
    index / (w, h) when the window's largest confidence is >= min_confidence. Landmarks outside the map stay.
    """
    M, h, w, L = heatmap.shape
    r = (kernel - 1) // 2
    col = np.trunc(uv01[..., 0] * w).astype(np.int64)  # (M,L), C++ float -> int truncation
    row = np.trunc(uv01[..., 1] * h).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    offs = np.arange(-r, r + 1)
    cols = col[..., None] + offs  # (M,L,k)
    rows = row[..., None] + offs
    padded = np.pad(_sigmoid(heatmap), ((0, 0), (r, r), (r, r), (0, 0)))  # zero border
    mi = np.arange(M)[:, None, None, None]
    li = np.arange(L)[None, :, None, None]
    conf = padded[mi, np.clip(rows, -r, h + r - 1)[..., :, None] + r, np.clip(cols, -r, w + r - 1)[..., None, :] + r, li]
    # conf (M,L,k,k) over (row offset, col offset); cells outside the map read the zero border
    total = conf.sum(axis=(-1, -2))
    wc = (conf * cols[..., None, :]).sum(axis=(-1, -2))
    wr = (conf * rows[..., :, None]).sum(axis=(-1, -2))
    ok = inside & (conf.max(axis=(-1, -2)) >= min_confidence) & (total > 0)
    out = uv01.copy()
    safe = np.where(total > 0, total, 1.0)
    out[..., 0] = np.where(ok, wc / safe / w, uv01[..., 0])
    out[..., 1] = np.where(ok, wr / safe / h, uv01[..., 1])
    return out


# ---- stage 3+4: the detector with tracking -----------------------------------------------------------------------
def roi_box(roi: np.ndarray) -> np.ndarray:
    """Axis-aligned box (xyxy) of the ROI's inner square (side / 1.5: the body extent it was built from)."""
    cx, cy, half = float(roi[0]), float(roi[1]), float(roi[2]) / ROI_SCALE_FROM_LANDMARKS / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


def landmark_box(xy33: np.ndarray, scores33: np.ndarray, image_wh: tuple[int, int], pad: float = 0.1) -> np.ndarray:
    """Box around the confident landmarks (score >= 0.5; all 33 when fewer than 4), grown by ``pad``, clipped."""
    sel = scores33 >= 0.5
    pts = xy33[sel] if sel.sum() >= 4 else xy33
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    grow = (hi - lo) * pad / 2
    lo, hi = lo - grow, hi + grow
    W, H = image_wh
    return np.array([np.clip(lo[0], 0, W), np.clip(lo[1], 0, H), np.clip(hi[0], 0, W), np.clip(hi[1], 0, H)],
                    np.float32)


@dataclass
class _Person:
    """One person found in the current frame (and, once emitted, tracked into the next)."""

    xy: np.ndarray  # (39,2) image px, all landmarks incl. auxiliary
    scores: np.ndarray  # (33,) visibility * presence
    pose: float  # pose presence
    lbox: np.ndarray  # (4,) box around the landmarks
    det_box: np.ndarray | None  # (4,) RTMDet box matched in this frame, or None
    box_score: float  # the person's latest RTMDet score
    unmatched_runs: int = 0  # consecutive RTMDet runs in which no box matched this person

    def boxes(self) -> list[np.ndarray]:
        return [self.lbox] if self.det_box is None else [self.lbox, self.det_box]


class BlazePoseDetector(DetectorBase):
    """RTMDet-nano + BlazePose landmarks with per-person ROI tracking; skeleton blazepose33.

    model: "lite" | "full" (default) | "heavy"; detect_every: run RTMDet at least every N frames (1 = every frame);
    box_score_threshold: RTMDet score for a box to start a new person; match_score_threshold: RTMDet score for a box
    to confirm (and give its box to) a tracked person; pose_threshold: BlazePose pose presence to keep a person;
    box_scale: ROI side / box long side for a new person; tracking: reuse landmark ROIs between frames;
    max_unmatched: RTMDet runs a tracked person may go without a box (None: no limit, the pose presence alone
    decides, as in MediaPipe); max_new: new people tried per frame (highest RTMDet scores first);
    first_pass_model: the landmark model of a first pass from a box, which only places the second pass (default
    "lite": 3x cheaper than full; None = the main model);
    num_threads: onnxruntime intra-op threads (None: mbcli's choice, mbcli/threads.py); device: "cpu" or "cuda".
    """

    skeleton = BLAZEPOSE33

    def __init__(self, model: str = "full", detect_every: int = 2, box_score_threshold: float = 0.1,
                 match_score_threshold: float = 0.05, anchor_score: float = 0.3, pose_threshold: float = 0.5,
                 box_scale: float = 1.25,
                 tracking: bool = True, max_unmatched: int | None = None, max_new: int = 4,
                 first_pass_model: str | None = "lite",
                 num_threads: int | None = None, device: str = "cpu") -> None:
        if model not in LANDMARK_FILES:
            raise ConfigError(f"unknown BlazePose model {model!r}; choose one of {', '.join(LANDMARK_FILES)}")
        if int(detect_every) < 1:
            raise ConfigError(f"detect_every must be >= 1, got {detect_every}")
        if not 0.0 <= match_score_threshold <= box_score_threshold <= 1.0:
            raise ConfigError("need 0 <= match_score_threshold <= box_score_threshold <= 1")
        self.model = model
        self.detect_every = int(detect_every)
        self.box_score_threshold = float(box_score_threshold)
        self.anchor_score = float(anchor_score)
        self.pose_threshold = float(pose_threshold)
        self.box_scale = float(box_scale)
        self.tracking = bool(tracking)
        self.max_unmatched = None if max_unmatched is None else int(max_unmatched)
        self.max_new = int(max_new)
        self.boxes = PersonBoxes(make_session(weights_path(RTMDET_FILE), num_threads, device), match_score_threshold)
        self.landmarks = BlazePoseLandmarks(make_session(weights_path(LANDMARK_FILES[model]), num_threads, device))
        first_model = first_pass_model or model
        if first_model not in LANDMARK_FILES:
            raise ConfigError(f"unknown first-pass model {first_model!r}; choose one of {', '.join(LANDMARK_FILES)}")
        self.first_pass = self.landmarks if first_model == model else BlazePoseLandmarks(
            make_session(weights_path(LANDMARK_FILES[first_model]), num_threads, device))
        self.stats = {"frames": 0, "detector_runs": 0, "landmark_crops": 0, "first_pass_crops": 0}
        self.reset()

    def reset(self) -> None:
        self._tracked: list[_Person] = []
        self._rejected: list[tuple[np.ndarray, int]] = []
        self._last_index: int | None = None
        self._since_detect = 0

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> FramePoses:
        frame = check_frame(frame_rgb)
        frame_index = int(frame_index)
        H, W = frame.shape[:2]
        if not self.tracking or self._last_index is None or frame_index != self._last_index + 1:
            self._tracked, self._rejected = [], []
        self._last_index = frame_index
        self.stats["frames"] += 1
        tracked = self._tracked

        # 1) RTMDet on schedule (or when nobody is tracked); match last frame's people to the boxes by IoU
        self._since_detect += 1
        det_boxes, det_scores = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        match = np.full(len(tracked), -1)
        ran_detect = not tracked or self._since_detect >= self.detect_every
        if ran_detect:
            det_boxes, det_scores, match = self._run_boxes(frame, tracked)

        # 2) landmarks of the tracked people: a person matched to a confident box is re-anchored on it (two passes
        #    from the box: no drift); the others follow the ROI from their previous landmarks (one pass)
        found: list[_Person] = []
        lost = False
        if tracked:
            anchored = [k for k, j in enumerate(match) if j >= 0 and det_scores[j] >= self.anchor_score]
            rows: dict[int, tuple[Landmarks, int]] = {}
            if anchored:
                first = self._landmarks(frame, np.stack([roi_from_box(det_boxes[match[k]], self.box_scale)
                                                         for k in anchored]), first_pass=True)
                ok = [n for n in range(len(anchored)) if first.pose[n] >= FIRST_PASS_MIN_POSE]
                if ok:  # second pass from the first pass's auxiliary points
                    second = self._landmarks(frame, np.stack([roi_from_landmarks(first.xy[n]) for n in ok]))
                    rows.update({anchored[n]: (second, m) for m, n in enumerate(ok)
                                 if second.pose[m] >= self.pose_threshold})
            # the rest, and anchored people the box did not work for (occluded, unusual pose): the tracked ROI
            follow = [k for k in range(len(tracked)) if k not in rows]
            if follow:
                lm_f = self._landmarks(frame, np.stack([roi_from_landmarks(tracked[k].xy) for k in follow]))
                rows.update({k: (lm_f, m) for m, k in enumerate(follow)})
            for k, p in enumerate(tracked):
                lm, m = rows[k]
                if lm.pose[m] < self.pose_threshold:
                    lost = True
                    continue
                j = match[k]
                if j >= 0:
                    found.append(self._person(lm, m, (W, H), det_boxes[j], float(det_scores[j]), 0))
                else:
                    runs = p.unmatched_runs + (1 if ran_detect else 0)
                    if self.max_unmatched is None or runs <= self.max_unmatched:
                        found.append(self._person(lm, m, (W, H), None, p.box_score, runs))

        # 3) someone was lost between scheduled runs: look for people in this frame too
        if lost and not ran_detect:
            det_boxes, det_scores, _ = self._run_boxes(frame, [])
            ran_detect = True
        if ran_detect:
            self._since_detect = 0
            used = np.zeros(len(det_boxes), bool)
            used[match[match >= 0]] = True
            found = self._new_people(frame, found, det_boxes, det_scores, used)

        found = self._dedupe(found)
        self._tracked = found if self.tracking else []
        if not found:
            return FramePoses.empty(frame_index, self.skeleton)
        return FramePoses(
            frame_index,
            np.stack([p.det_box if p.det_box is not None else p.lbox for p in found]),
            np.array([p.box_score for p in found]),
            np.stack([p.xy[:NUM_BODY] for p in found]),
            np.clip(np.stack([p.scores for p in found]), 0.0, 1.0),
            self.skeleton,
        )

    # helpers -------------------------------------------------------------------------------------------------------
    def _landmarks(self, frame: np.ndarray, rois: np.ndarray, first_pass: bool = False) -> Landmarks:
        """Landmarks in ROIs; a first pass from a box (only placing the second) may use a cheaper model."""
        model = self.first_pass if first_pass else self.landmarks
        self.stats["first_pass_crops" if first_pass else "landmark_crops"] += len(rois)
        return model(frame, rois)

    @staticmethod
    def _person(lm: Landmarks, k: int, image_wh, det_box, box_score: float, unmatched_runs: int = 0) -> _Person:
        scores = lm.scores[k]
        return _Person(lm.xy[k], scores, float(lm.pose[k]), landmark_box(lm.xy[k, :NUM_BODY], scores, image_wh),
                       det_box, float(box_score), unmatched_runs)

    def _run_boxes(self, frame: np.ndarray, tracked: list[_Person]):
        """RTMDet boxes (above match_score_threshold, best first) and, for each tracked person, the index of the box
        matched to its last landmark box (greedy IoU >= 0.3), or -1."""
        self.stats["detector_runs"] += 1
        det_boxes, det_scores = self.boxes(frame)
        match = np.full(len(tracked), -1)
        if tracked and len(det_boxes):
            iou = box_iou(np.stack([p.lbox for p in tracked]), det_boxes)
            while iou.size and iou.max() >= 0.3:
                i, j = np.unravel_index(np.argmax(iou), iou.shape)
                match[i] = j
                iou[i, :], iou[:, j] = -1.0, -1.0
        return det_boxes, det_scores, match

    def _new_people(self, frame, found: list[_Person], det_boxes, det_scores, used) -> list[_Person]:
        """Each confident unused box, best first, starts a new person when both landmark passes find a pose. A box
        lying mostly inside (IoA > 0.6), or overlapping (IoU > 0.4), someone already found is them; a box where no
        pose was found in the last few frames is not tried again while it stays put."""
        H, W = frame.shape[:2]
        rejected = [(b, age + 1) for b, age in self._rejected if age + 1 <= REJECT_MEMORY]
        tried = 0
        for j in np.flatnonzero(~used & (det_scores >= self.box_score_threshold)):
            if tried >= self.max_new:
                break
            box = det_boxes[j]
            if found:
                theirs = np.stack([b for p in found for b in p.boxes()])
                if box_ioa(box, theirs).max() > 0.6 or box_iou(box, theirs).max() > 0.4:
                    continue
            if rejected and box_iou(box, np.stack([b for b, _ in rejected])).max() > 0.7:
                continue
            tried += 1
            lm = self._landmarks(frame, roi_from_box(box, self.box_scale)[None], first_pass=True)
            if lm.pose[0] >= FIRST_PASS_MIN_POSE:
                # second pass: MediaPipe's ROI from the first pass's auxiliary points (centre, scale, rotation)
                lm = self._landmarks(frame, roi_from_landmarks(lm.xy[0])[None])
            # a weak box must be backed by a confident skeleton (seen: a dark object at box score 0.17 gets pose
            # presence > 0.5 but a mean keypoint score of 0.55-0.62; small real people score 0.8)
            solid = det_scores[j] >= WEAK_BOX or lm.scores[0].mean() >= WEAK_BOX_MIN_KEYPOINT_SCORE
            if lm.pose[0] >= self.pose_threshold and solid:
                found.append(self._person(lm, 0, (W, H), box, float(det_scores[j])))
            else:
                rejected.append((box, 0))
        self._rejected = rejected
        return found

    @staticmethod
    def _dedupe(people: list[_Person]) -> list[_Person]:
        """Keep one of any two people that are the same body: landmark boxes with IoU > 0.5; or body landmarks whose
        median distance is under 0.2 x the smaller landmark box's size (sqrt of its area), or under 0.3 x the larger's
        when the smaller box lies mostly (> 70 %) inside the other (two readings of one body). The one kept has the higher
        mean keypoint score + pose presence."""
        if len(people) < 2:
            return people
        boxes = np.stack([p.lbox for p in people])
        iou = box_iou(boxes, boxes)
        ioa = box_ioa(boxes, boxes)
        size = np.sqrt(np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1.0, None), axis=1))
        conf = np.array([p.pose + float(p.scores.mean()) for p in people])
        keep: list[int] = []
        for i in np.argsort(-conf, kind="stable"):
            same = False
            for k in keep:
                dist = np.median(np.linalg.norm(people[i].xy[:NUM_BODY] - people[k].xy[:NUM_BODY], axis=-1))
                small, big = (i, k) if size[i] <= size[k] else (k, i)
                nested = ioa[small, big] > 0.7
                if iou[i, k] > 0.5 or dist < (0.3 * size[big] if nested else 0.2 * size[small]):
                    same = True
                    break
            if not same:
                keep.append(int(i))
        return [people[i] for i in sorted(keep)]
