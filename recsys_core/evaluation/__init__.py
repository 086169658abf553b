"""Measuring models: error and ranking metrics, and the evaluation protocol."""
