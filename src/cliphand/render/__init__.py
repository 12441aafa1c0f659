"""Rendering: a light matplotlib preview of meshes (the rasteriser comes with synthetic data)."""
