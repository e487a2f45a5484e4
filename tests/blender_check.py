"""Import a BVH into Blender (bpy, headless) and write what Blender sees as JSON.

Run with the Blender venv's python, not the project's: ``.venv-blender/bin/python tests/blender_check.py in.bvh
out.json``. It uses only bpy and the standard library (mbcli is not installed in that venv). The procedure is the one
of ../shared/design/FORMATS.md section 1.4: empty factory scene, ``import_anim.bvh`` with the operator defaults that
matter spelled out, then for each frame the world position of every pose bone's head.

out.json: {"fps": scene fps (fps / fps_base), "frame_range": [first, last] of the action, "frame_start":
scene.frame_start, "bones": [names], "heads": [frame][bone][x, y, z] in Blender world coordinates (Z up)}.
"""

from __future__ import annotations

import json
import sys


def main(bvh_path: str, out_path: str) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(
        filepath=bvh_path,
        global_scale=1.0,
        frame_start=1,
        rotate_mode="NATIVE",
        axis_forward="-Z",
        axis_up="Y",
        update_scene_fps=True,
        update_scene_duration=True,
    )
    scene = bpy.context.scene
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    start, end = (int(round(f)) for f in arm.animation_data.action.frame_range)
    bones = [b.name for b in arm.pose.bones]
    heads = []
    for frame in range(start, end + 1):
        scene.frame_set(frame)
        heads.append([list(arm.matrix_world @ arm.pose.bones[n].head) for n in bones])
    result = {
        "fps": scene.render.fps / scene.render.fps_base,
        "frame_range": [start, end],
        "frame_start": scene.frame_start,
        "bones": bones,
        "heads": heads,
    }
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: blender_check.py in.bvh out.json")
    main(sys.argv[1], sys.argv[2])
