"""mbcli: video of people -> 3D human motion (DSTformer lifting, exports for Blender and research tools)."""

__version__ = "0.1.0"
