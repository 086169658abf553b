"""Turning scores into per-user top-N lists."""
