"""Import a skinned, animated GLB into Blender (bpy, headless) and write the deformed mesh it plays as JSON.

Run with the Blender venv's python, not the project's: ``.venv-blender/bin/python tests/blender_glb_check.py in.glb
out.json 0,1,10`` (the last argument lists 0-based animation keys). It uses only bpy and the standard library (mbcli
is not installed in that venv). Procedure: empty factory scene; the scene frame rate set to the file's (read from the
animation's ``extras.fps``, which mbcli writes; glTF itself stores seconds, and at Blender's default 24 fps a 30 fps
file would play too slowly and land keys between frames); ``import_scene.gltf`` with the options that matter spelled
out; then, for each key k, ``frame_set(action start + k)`` and the evaluated (armature-deformed) mesh's vertices in
world coordinates.

out.json: {"fps": scene fps (fps / fps_base), "frame_range": [first, last] of the armature's action, "num_vertices",
"rest": [v][x, y, z] the undeformed mesh in world coordinates, "frames": [the Blender frames sampled], "vertices":
[key][v][x, y, z] deformed, world coordinates (Blender Z up: glTF (x, y, z) appears as (x, -z, y))}.
"""

from __future__ import annotations

import json
import struct
import sys


def glb_fps(path: str) -> float:
    with open(path, "rb") as f:
        magic, _version, _length, json_len, json_type = struct.unpack("<5I", f.read(20))
        if magic != 0x46546C67 or json_type != 0x4E4F534A:
            raise SystemExit(f"{path} is not a GLB file")
        gltf = json.loads(f.read(json_len))
    return float(gltf["animations"][0]["extras"]["fps"])


def world_coords(obj, mesh) -> list[list[float]]:
    flat = [0.0] * (3 * len(mesh.vertices))
    mesh.vertices.foreach_get("co", flat)
    m = obj.matrix_world
    return [list(m @ _vec(flat[i:i + 3])) for i in range(0, len(flat), 3)]


def _vec(xyz):
    from mathutils import Vector

    return Vector(xyz)


def main(glb_path: str, out_path: str, keys: list[int]) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    fps = glb_fps(glb_path)
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps
    bpy.ops.import_scene.gltf(filepath=glb_path, merge_vertices=False, guess_original_bind_pose=True,
                              import_shading="NORMALS")
    obj = next(o for o in scene.objects if o.type == "MESH")
    arm = next(o for o in scene.objects if o.type == "ARMATURE")
    start, end = (int(round(f)) for f in arm.animation_data.action.frame_range)
    rest = world_coords(obj, obj.data)
    frames, vertices = [], []
    for k in keys:
        scene.frame_set(start + k)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        vertices.append(world_coords(evaluated, mesh))
        evaluated.to_mesh_clear()
        frames.append(start + k)
    result = {
        "fps": scene.render.fps / scene.render.fps_base,
        "frame_range": [start, end],
        "num_vertices": len(obj.data.vertices),
        "rest": rest,
        "frames": frames,
        "vertices": vertices,
    }
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: blender_glb_check.py in.glb out.json KEY,KEY,...")
    main(sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(",")])
