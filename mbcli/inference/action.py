"""Action recognition over a 2D keypoint track: windows -> action probabilities per segment and overall.

A person's h36m17 track is cut into windows of the model's length L, sampling every ``step`` frames (default:
the video's frame rate / 25, so a window sees the motion at about 25 fps, inside the 17-50 fps the action model was
trained at), a new window every L*step/2 frames; each window is crop-normalised like the lifter's. Each window is a
segment: [start_frame, end_frame) in video frames. Scores:
- the model's classifier over its own classes (``labels`` None): softmax of the logits;
- any label list (open vocabulary): the labels are embedded with the text encoder (mbcli/text/) and scored by the
  model's learned scale times the cosine with the motion embedding, softmax over the given labels.
Overall probabilities are the mean of the segments'.
A model trained on several people per sample (checkpoint meta ``num_people`` > 1: NTU RGB+D) gets each track as
the first person and all-zero absent people, which is how its training showed it a one-person sample.
"""

from __future__ import annotations

import numpy as np
import torch

from mbcli.errors import ClipTooShort, ConfigError
from mbcli.model.action import ActionModel
from mbcli.normalize import crop_params, encode
from mbcli.types import ActionScores, Keypoints2D, PersonActions


def window_starts(T: int, L: int, step: int) -> list[int]:
    """First frames of the windows over a T-frame track (L samples ``step`` frames apart, a new window every
    L*step/2 frames, plus one ending on the last frame when the hops miss it); [] when T is shorter than a window.
    The action evaluation (train/evaluate_action.py) cuts its sequences the same way."""
    span = (L - 1) * step + 1
    if T < span:
        return []
    hop = max(1, (L * step) // 2)
    starts = list(range(0, T - span + 1, hop))
    if starts[-1] + span < T:
        starts.append(T - span)  # the end of the track gets a window too
    return starts


class ActionRecognizer:
    def __init__(self, model: ActionModel, meta: dict, device: torch.device | str = "cpu",
                 labels: list[str] | None = None, text_bank: np.ndarray | None = None, batch_size: int = 128) -> None:
        """``labels`` None: the classifier's classes (named by the checkpoint's label sentences); else ``labels``
        scored in the text space, with ``text_bank`` (K,E) their unit embeddings (encoded here when None)."""
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.L = model.backbone.config.maxlen
        self.num_people = max(1, int(meta.get("num_people") or 1))
        if labels is None:
            if model.head.classifier is None:
                raise ConfigError("this action model has no classifier: pass --labels to score labels in text space")
            C = model.head.config.num_classes
            names = list(meta.get("label_bank") or [])[:C] or list(meta.get("classes") or [])
            self.labels = names if len(names) == C else [f"class {i}" for i in range(C)]
            self.bank = None
        else:
            if model.head.embed is None:
                raise ConfigError("this action model has no text embedding head: open-vocabulary labels need a "
                                  "model trained with text_align")
            if not labels or any(not str(t).strip() for t in labels):
                raise ConfigError("--labels needs at least one non-empty label")
            self.labels = [str(t).strip() for t in labels]
            if text_bank is None:
                from mbcli.text import load_text_encoder

                text_bank = load_text_encoder().encode(self.labels)
            self.bank = torch.as_tensor(np.asarray(text_bank, np.float32), device=self.device)

    def windows(self, kp: Keypoints2D, step: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        T = kp.num_frames
        starts = window_starts(T, self.L, step)
        if not starts:
            raise ClipTooShort(f"track of {T} frames is shorter than one action window ({(self.L - 1) * step + 1} "
                               f"frames at step {step}); action recognition needs at least that")
        xs, spans = [], []
        for s in starts:
            ix = s + step * np.arange(self.L)
            xy, sc = kp.xy[ix], kp.scores[ix]
            if not (sc > 0).any():
                continue
            xs.append(encode(xy, sc, crop_params(xy, sc)))
            spans.append((int(kp.frame_indices[s]), int(kp.frame_indices[ix[-1]]) + 1))
        if not xs:
            raise ClipTooShort("no window of the track has a detected joint")
        return np.stack(xs).astype(np.float32), spans

    def recognize(self, kp: Keypoints2D, step: int | None = None, track_id: int = 0) -> PersonActions:
        """Probabilities per window (segment) of the track and their mean (overall)."""
        step = step or max(1, int(round(kp.fps / 25.0)))
        x, spans = self.windows(kp, step)
        if self.num_people > 1:  # (W,L,J,3) -> (W,M,L,J,3): the track, then absent (all-zero) people
            x = np.concatenate([x[:, None], np.zeros((len(x), self.num_people - 1) + x.shape[1:], x.dtype)], axis=1)
        probs = []
        with torch.inference_mode():
            for a in range(0, len(x), self.batch_size):
                out = self.model(torch.from_numpy(x[a:a + self.batch_size]).to(self.device))
                if self.bank is None:
                    logits = out.logits
                else:
                    logits = self.model.head.text_logits(out.embedding, self.bank)
                probs.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        p = np.concatenate(probs)  # (W,K)
        labels = tuple(self.labels)
        segments = tuple(ActionScores(labels, p[i], span) for i, span in enumerate(spans))
        overall = ActionScores(labels, p.mean(axis=0), (spans[0][0], spans[-1][1]))
        return PersonActions(int(track_id), overall, segments)
