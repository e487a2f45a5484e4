"""Motion in the world, for a static camera: where each person is (root trajectory), where gravity points and where
the floor is, when each foot is planted, and a foot-locking pass that removes skating.

- camera.py: pinhole intrinsics from a focal length, a field of view or the documented prior;
- trajectory.py: each person's root position in the camera frame from their metric 3D and 2D keypoints;
- floor.py: the floor plane (so gravity, the camera's pitch, roll and height) from the feet of everyone in the clip,
  or the level-camera fallback; the camera-to-world transform;
- contact.py: per-frame foot contact labels;
- footlock.py: the leg IK pass that pins planted feet.
Everything here is numpy on plain arrays; the pipeline calls it once per clip (lift and mesh alike).
"""
