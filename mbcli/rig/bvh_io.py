"""BVH text: written from a solved RigMotion (format_bvh) and parsed from any file (parse_bvh, read_bvh).

Writing. HIERARCHY lists the joints depth-first from the root, each with its OFFSET and CHANNELS; leaves with an
End Site offset get an ``End Site`` block. ROOT: ``Xposition Yposition Zposition`` then three rotations; every other
joint: three rotations, in the joint's Euler order (RigMotion.euler_orders; Blender, pybvh and bvhio all read it from
each channel list). Channels listed as ``Yrotation Zrotation Xrotation`` mean R = Ry(a) @ Rz(b) @ Rx(c) (intrinsic,
in the listed order, acting on column vectors), the convention of mbcli.geometry.euler_to_matrix. Angles are
degrees, continuous over time (RigMotion.euler_degrees). Lengths are in ``units``: "m" (Blender) or "cm" (every
length times 100, for MotionBuilder/Maya users, who import with scale 0.01; mbcli.units). MOTION: ``Frames: T``,
``Frame Time`` 1/fps with 8 decimals, then one row per frame; every number has 6 decimals (no "-0.000000").

Reading (our own, numpy, vectorised over frames): any channel subset and order per joint; rotation channels are
intrinsic in listed order, R = R_ch1 @ R_ch2 @ R_ch3 (degrees; geometry.euler_to_matrix; fewer than three are
completed with the missing axes at angle 0); a position channel overwrites that component of the joint's OFFSET
(bvhio's convention; for the root it is the translation). End sites become nodes named ``<joint>_end``. World
positions (bvh_positions) follow mbcli.rig.kinematics: p_j = p_parent + G_parent @ t_j, G_j = G_parent @ R_j.
tests/test_rig_bvh_io.py checks them against pybvh and bvhio. Malformed files raise ConfigError naming the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbcli.errors import ConfigError, ExportError
from mbcli.geometry import euler_to_matrix
from mbcli.rig.kinematics import CHUNK, BakedMotion, RigMotion, chain_positions
from mbcli.units import per_metre

BVH_UNITS = ("m", "cm")  # lengths a written BVH can have
_POS = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
_ROT = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}


# ----------------------------------------------------------------------------------------------- writing


def format_bvh(motion: RigMotion | BakedMotion, *, units: str = "m") -> str:
    """The BVH file text of ``motion``; lengths in ``units`` ("m" or "cm"), angles in degrees."""
    return "".join(bvh_chunks(motion, units=units))


def bvh_chunks(motion: RigMotion | BakedMotion, *, units: str = "m", chunk: int = CHUNK) -> Iterator[str]:
    """The BVH file text of ``motion`` in pieces (the HIERARCHY, then ``chunk`` MOTION rows at a time), so a long
    clip is written without its whole text in memory; a RigMotion is baked first (RigMotion.bake)."""
    if units not in BVH_UNITS:
        raise ExportError(f"unknown BVH units {units!r}; choose one of: {', '.join(BVH_UNITS)}")
    baked = motion.bake(chunk) if isinstance(motion, RigMotion) else motion
    s = per_metre(units)
    lines = ["HIERARCHY"]
    _write_joint(lines, baked, 0, 0, s)
    lines += ["MOTION", f"Frames: {baked.num_frames}", f"Frame Time: {1.0 / baked.fps:.8f}"]
    yield "\n".join(lines) + "\n"
    for lo in range(0, baked.num_frames, chunk):
        root, euler = baked.rows(lo, min(lo + chunk, baked.num_frames))
        data = np.concatenate([root * s, euler.reshape(len(root), -1)], axis=1)
        buf = io.StringIO()
        np.savetxt(buf, np.round(data, 6) + 0.0, fmt="%.6f", delimiter=" ")
        yield buf.getvalue()


def _write_joint(lines: list[str], motion: RigMotion | BakedMotion, j: int, depth: int, s: float) -> None:
    ind = "\t" * depth
    p = motion.parents[j]
    head = "ROOT" if p < 0 else "JOINT"
    rotations = " ".join(f"{axis}rotation" for axis in motion.euler_orders[j])
    channels = f"CHANNELS 6 Xposition Yposition Zposition {rotations}" if p < 0 else f"CHANNELS 3 {rotations}"
    lines += [f"{ind}{head} {motion.names[j]}", f"{ind}{{", f"{ind}\tOFFSET {_vec(motion.offsets[j] * s)}"]
    lines.append(f"{ind}\t{channels}")
    for c in range(len(motion.parents)):
        if motion.parents[c] == j:
            _write_joint(lines, motion, c, depth + 1, s)
    if j in motion.end_sites:
        lines += [f"{ind}\tEnd Site", f"{ind}\t{{", f"{ind}\t\tOFFSET {_vec(motion.end_sites[j] * s)}", f"{ind}\t}}"]
    lines.append(f"{ind}}}")


def _vec(v: np.ndarray) -> str:
    return " ".join(f"{x:.6f}" for x in np.round(np.asarray(v, dtype=np.float64), 6) + 0.0)  # no "-0.000000"


# ----------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class BvhMotion:
    """A parsed BVH file. Nodes are the joints and end sites in file order (parents before children); an end site
    is named ``<joint>_end`` and has no channels. ``frames`` (T, C) holds the MOTION values, node j's channels in
    columns ``channel_start[j]`` onwards; angles in degrees, lengths in the file's units."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    channel_start: tuple[int, ...]
    frame_time: float
    frames: np.ndarray
    source: str = "<text>"

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"BVH has no joint or end site {name!r}") from None

    def rotation_columns(self) -> list[int]:
        """Columns of ``frames`` that hold rotation channels."""
        return [c0 + k for chans, c0 in zip(self.channels, self.channel_start)
                for k, ch in enumerate(chans) if ch in _ROT]


def _parse_hierarchy(tokens: list[str], src: str) -> tuple[list[str], list[int], list[list[float]], list[tuple]]:
    """HIERARCHY tokens -> (names, parents, offsets, channels), nodes in file order."""
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float] | None] = []
    channels: list[tuple[str, ...]] = []
    leaf: list[bool] = []
    pos = 0

    def bad(msg: str) -> ConfigError:
        return ConfigError(f"malformed BVH {src}: {msg}")

    def take(what: str) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise bad(f"file ends where {what} was expected")
        pos += 1
        return tokens[pos - 1]

    def expect(word: str) -> None:
        tok = take(repr(word))
        if tok != word:
            raise bad(f"expected {word!r}, found {tok!r}")

    def numbers(n: int, what: str) -> list[float]:
        vals = [take(what) for _ in range(n)]
        try:
            return [float(v) for v in vals]
        except ValueError:
            raise bad(f"{what} must be {n} numbers, found {' '.join(vals)!r}") from None

    def open_node(name: str, parent: int, is_leaf: bool) -> int:
        if name in names:
            raise bad(f"duplicate joint name {name!r}")
        names.append(name)
        parents.append(parent)
        offsets.append(None)
        channels.append(())
        leaf.append(is_leaf)
        expect("{")
        return len(names) - 1

    expect("HIERARCHY")
    expect("ROOT")
    stack = [open_node(take("the root name"), -1, False)]
    while stack:
        cur = stack[-1]
        tok = take("'}'")
        if tok == "OFFSET":
            if offsets[cur] is not None:
                raise bad(f"two OFFSETs in {names[cur]!r}")
            offsets[cur] = numbers(3, f"the OFFSET of {names[cur]!r}")
        elif tok == "CHANNELS" and not leaf[cur]:
            if channels[cur]:
                raise bad(f"two CHANNELS lines in {names[cur]!r}")
            n_tok = take("a channel count")
            if not n_tok.isdigit():
                raise bad(f"channel count of {names[cur]!r} is {n_tok!r}")
            chans = tuple(take("a channel name") for _ in range(int(n_tok)))
            unknown = [c for c in chans if c not in _POS and c not in _ROT]
            if unknown or len(set(chans)) != len(chans):
                raise bad(f"channels of {names[cur]!r} must be distinct X/Y/Z position/rotation, got {' '.join(chans)}")
            channels[cur] = chans
        elif tok == "JOINT" and not leaf[cur]:
            stack.append(open_node(take("a joint name"), cur, False))
        elif tok == "End" and not leaf[cur]:
            expect("Site")
            stack.append(open_node(f"{names[cur]}_end", cur, True))
        elif tok == "}":
            if offsets[cur] is None:
                raise bad(f"{names[cur]!r} has no OFFSET")
            stack.pop()
        else:
            raise bad(f"unexpected {tok!r} in {names[cur]!r}")
    if pos != len(tokens):
        raise bad(f"unexpected {tokens[pos]!r} after the hierarchy (only one ROOT is supported)")
    return names, parents, offsets, channels  # type: ignore[return-value]


def parse_bvh(text: str, source: str = "<text>") -> BvhMotion:
    """Parse BVH text (HIERARCHY and MOTION). Raises ConfigError naming ``source`` when it is malformed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    m = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE)
    if m is None:
        raise ConfigError(f"malformed BVH {source}: no MOTION section")
    names, parents, offsets, channels = _parse_hierarchy(text[: m.start()].split(), source)
    starts, c = [], 0
    for ch in channels:
        starts.append(c)
        c += len(ch)
    lines = text[m.end():].strip().splitlines()
    head = [ln.split() for ln in lines[:2]]
    if len(head) < 2 or len(head[0]) != 2 or head[0][0] != "Frames:" or head[1][:2] != ["Frame", "Time:"] \
            or len(head[1]) != 3:
        raise ConfigError(f"malformed BVH {source}: MOTION must start with 'Frames: N' and 'Frame Time: dt'")
    try:
        n_frames, dt = int(head[0][1]), float(head[1][2])
    except ValueError:
        raise ConfigError(f"malformed BVH {source}: bad frame count or frame time") from None
    if n_frames < 1 or not dt > 0:
        raise ConfigError(f"malformed BVH {source}: needs at least one frame and a positive frame time")
    rows = [ln for ln in lines[2:] if ln.strip()]
    if len(rows) != n_frames:
        raise ConfigError(f"malformed BVH {source}: header says {n_frames} frames, found {len(rows)}")
    try:
        frames = np.loadtxt(rows, dtype=np.float64, ndmin=2)
    except ValueError:
        raise ConfigError(f"malformed BVH {source}: motion rows are not all numbers of equal count") from None
    if frames.shape[1] != c or not np.isfinite(frames).all():
        raise ConfigError(f"malformed BVH {source}: {frames.shape[1]} values per frame, the hierarchy has {c} "
                          "channels (or values are not finite)")
    return BvhMotion(tuple(names), tuple(parents), np.asarray(offsets, dtype=np.float64), tuple(channels),
                     tuple(starts), dt, frames, source)


def read_bvh(path: str | Path) -> BvhMotion:
    """Read and parse a BVH file (see parse_bvh)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"cannot read BVH file {p}: {e.strerror or e}") from None
    return parse_bvh(text, str(p))


def _local_rotation(order: str, angles_deg: np.ndarray) -> np.ndarray:
    """Rotation channels in listed order (intrinsic: R = R_ch1 @ R_ch2 @ ...) -> (T, 3, 3). Fewer than three
    channels are completed with the missing axes at angle 0."""
    T = angles_deg.shape[0]
    full = order + "".join(a for a in "XYZ" if a not in order)
    a = np.zeros((T, 3))
    a[:, : len(order)] = np.radians(angles_deg)
    return euler_to_matrix(a, full)


def _local_transforms(motion: BvhMotion, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Node j's translation from its parent (T,3) (OFFSET, position channels overwriting components) and local
    rotation (T,3,3) from its rotation channels."""
    T = motion.num_frames
    chans, c0 = motion.channels[j], motion.channel_start[j]
    t = np.broadcast_to(motion.offsets[j], (T, 3)).copy()
    order = ""
    rot_cols = []
    for k, ch in enumerate(chans):
        if ch in _POS:
            t[:, _POS[ch]] = motion.frames[:, c0 + k]
        else:
            order += _ROT[ch]
            rot_cols.append(c0 + k)
    R = _local_rotation(order, motion.frames[:, rot_cols]) if order else np.broadcast_to(np.eye(3), (T, 3, 3))
    return t, R


def bvh_positions(motion: BvhMotion, nodes: list[str] | tuple[str, ...] | None = None,
                  extra: dict[str, tuple[str, np.ndarray]] | None = None) -> np.ndarray:
    """World positions (T, K, 3) of ``nodes`` (names; all nodes when None), in the file's units and axes.

    Forward kinematics (mbcli.rig.kinematics.chain_positions) over the nodes the request needs, with t_j j's
    OFFSET with any position channel overwriting its component (the root's position is its translation channels,
    or its OFFSET when it has none) and R_j the product of j's rotation channels in listed order. ``extra`` adds
    virtual points rigidly attached to a joint: {name: (joint, offset in the joint's local frame)}; they can be
    named in ``nodes``.
    """
    extra = extra or {}
    want = list(motion.names if nodes is None else nodes)
    needed: set[int] = set()
    for n in want:
        j = motion.index(extra[n][0] if n in extra else n)
        while j >= 0 and j not in needed:
            needed.add(j)
            j = motion.parents[j]
    keep = sorted(needed)  # parents before children, as in the file
    row = {j: k for k, j in enumerate(keep)}
    parents = tuple(row[motion.parents[j]] if motion.parents[j] >= 0 else -1 for j in keep)
    local = [_local_transforms(motion, j) for j in keep]
    pos, rot = chain_positions(parents, np.stack([t for t, _ in local], axis=1), np.stack([R for _, R in local], axis=1))
    out = np.empty((motion.num_frames, len(want), 3))
    for k, n in enumerate(want):
        if n in extra:
            j = row[motion.index(extra[n][0])]
            out[:, k] = pos[:, j] + rot[:, j] @ np.asarray(extra[n][1], dtype=np.float64)
        else:
            out[:, k] = pos[:, row[motion.index(n)]]
    return out
