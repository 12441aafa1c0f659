"""Synthetic hand images with exact labels: pose, camera and background sampling, rendering
with cliphand's rasteriser, and a writer for the FreiHAND training layout."""
