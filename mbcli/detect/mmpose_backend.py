"""An adapter that runs an installed OpenMMLab MMPose top-down model as a mbcli PoseDetector.

mmpose (and mmdet/mmcv) are optional and never installed by mbcli: they are imported when the detector is built, and
a missing one raises DependencyError with the install command. The adapter follows MMPose 1.x's top-down API
(``mmpose.apis.init_model`` + ``inference_topdown``): person boxes first, then one pose per box.

- Person boxes: an MMDetection model when ``det_config`` and ``det_checkpoint`` are given (``mmdet.apis.init_detector``
  + ``inference_detector``, class ``det_cat_id`` (0 = person in COCO) above ``det_score_threshold``), otherwise the
  RTMDet-nano person detector shipped in weights/ (the default backend's first stage), so only mmpose is required.
- Images: OpenMMLab models take BGR arrays (mmcv's convention); the adapter converts the RGB frame it is given.
- Output: FramePoses in the skeleton named by the model's keypoint count (``model.dataset_meta["num_keypoints"]``,
  17 when absent: 17 -> coco17, 26 -> halpe26; other counts raise ConfigError); keypoints in
  pixels of the frame, scores clipped to [0, 1] (some MMPose heads, e.g. SimCC, give scores above 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mbcli.detect.base import DetectorBase, check_frame, weights_path
from mbcli.errors import ConfigError, DependencyError
from mbcli.skeletons import Skeleton, get_skeleton
from mbcli.types import FramePoses

INSTALL = "pip install mmpose mmdet mmcv"
SKELETON_BY_K = {17: "coco17", 26: "halpe26"}


def _np(x) -> np.ndarray:
    """A tensor (torch, on any device) or array-like as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def _import_mmpose_apis():
    try:
        import mmpose.apis as apis
    except ImportError as e:
        raise DependencyError(f"the mmpose detector needs MMPose ({e.name or 'mmpose'} is missing): {INSTALL}") from None
    return apis


def _import_mmdet_apis():
    try:
        import mmdet.apis as apis
    except ImportError as e:
        raise DependencyError(f"person boxes from an MMDetection model need mmdet ({e.name or 'mmdet'} is missing): "
                              f"{INSTALL}") from None
    return apis


class MMPoseDetector(DetectorBase):
    """MMPose top-down pose model as a PoseDetector.

    config, checkpoint: the MMPose model (a config file and its .pth); det_config, det_checkpoint: optional MMDetection
    person detector (default: the shipped RTMDet-nano); device: "cpu" or "cuda[:N]"; det_score_threshold: box score to
    keep; det_cat_id: the detector's person class id; num_threads: for the shipped RTMDet.
    """

    def __init__(self, config: str | None = None, checkpoint: str | None = None, det_config: str | None = None,
                 det_checkpoint: str | None = None, device: str = "cpu", det_score_threshold: float = 0.3,
                 det_cat_id: int = 0, num_threads: int | None = None) -> None:
        if not config or not checkpoint:
            raise ConfigError("the mmpose detector needs config= (an MMPose config file) and checkpoint= (its weights)")
        for name, path in (("config", config), ("checkpoint", checkpoint)):
            if not Path(path).is_file():
                raise ConfigError(f"mmpose {name} file not found: {path}")
        if bool(det_config) != bool(det_checkpoint):
            raise ConfigError("give both det_config and det_checkpoint, or neither (then the shipped RTMDet is used)")
        apis = _import_mmpose_apis()
        self._inference_topdown = apis.inference_topdown
        self.model = apis.init_model(str(config), str(checkpoint), device=device)
        self.det_score_threshold = float(det_score_threshold)
        self.det_cat_id = int(det_cat_id)
        if det_config:
            det_apis = _import_mmdet_apis()
            self._det_model = det_apis.init_detector(str(det_config), str(det_checkpoint), device=device)
            self._inference_detector = det_apis.inference_detector
            self._boxes = self._mmdet_boxes
        else:
            from mbcli.detect.onnx_blazepose import RTMDET_FILE, PersonBoxes, make_session

            ort_device = "cuda" if device.startswith("cuda") else "cpu"
            session = make_session(weights_path(RTMDET_FILE), num_threads, ort_device)
            rtmdet = PersonBoxes(session, score_threshold=self.det_score_threshold)
            self._boxes = lambda frame_rgb, frame_bgr: rtmdet(frame_rgb)
        meta = getattr(self.model, "dataset_meta", None) or {}
        self.skeleton: Skeleton = self._skeleton_for(int(meta.get("num_keypoints", 17)))

    @staticmethod
    def _skeleton_for(k: int) -> Skeleton:
        if k not in SKELETON_BY_K:
            raise ConfigError(f"the MMPose model predicts {k} keypoints; mbcli reads {sorted(SKELETON_BY_K)} "
                              "(coco17, halpe26)")
        return get_skeleton(SKELETON_BY_K[k])

    def _mmdet_boxes(self, frame_rgb: np.ndarray, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pred = self._inference_detector(self._det_model, frame_bgr).pred_instances
        boxes, scores, labels = _np(pred.bboxes).reshape(-1, 4), _np(pred.scores).reshape(-1), _np(pred.labels)
        keep = (labels.reshape(-1) == self.det_cat_id) & (scores >= self.det_score_threshold)
        return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)

    def __call__(self, frame_rgb: np.ndarray, frame_index: int) -> FramePoses:
        frame = check_frame(frame_rgb)
        frame_bgr = np.ascontiguousarray(frame[:, :, ::-1])
        boxes, box_scores = self._boxes(frame, frame_bgr)
        if len(boxes) == 0:
            return FramePoses.empty(int(frame_index), self.skeleton)
        samples = self._inference_topdown(self.model, frame_bgr, np.asarray(boxes, np.float32), bbox_format="xyxy")
        kxy, ks = [], []
        for sample in samples:
            inst = sample.pred_instances
            kxy.append(_np(inst.keypoints).reshape(-1, 2))
            ks.append(_np(inst.keypoint_scores).reshape(-1))
        if len(kxy) != len(boxes):
            raise RuntimeError(f"mmpose returned {len(kxy)} poses for {len(boxes)} boxes")
        K = kxy[0].shape[0]
        if self.skeleton.num_joints != K:
            raise ConfigError(f"the MMPose model predicted {K} keypoints; expected {self.skeleton.num_joints} "
                              f"({self.skeleton.name}, from the model's dataset_meta)")
        return FramePoses(int(frame_index), boxes, box_scores, np.stack(kxy), np.clip(np.stack(ks), 0.0, 1.0),
                          self.skeleton)
