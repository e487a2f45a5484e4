"""The rig: h36m17 poses retargeted onto a fixed BVH-style skeleton, and BVH text.

Used by the exporters (BVH, JSON/NPZ units), the lift and mesh pipelines (one retarget per person) and CMU
training (the BVH reader). Modules:
- kinematics: forward kinematics over a joint tree, the solved motion (RigMotion), continuous Euler angles,
  gap filling in time;
- ik: the h36m17 inverse kinematics solver (per-joint swing and twist rules, Kabsch at branching joints);
- h36m_rig: the h36m17 BVH skeleton (names, Euler orders, axes, floor, rest pose) and the retarget step;
- bvh_io: BVH text, written from a RigMotion and parsed from any file.

Nothing here writes files or knows about the pipeline; errors are mbcli.errors types.
"""
