"""Distil the big image-text model into small per-scenario ONNX classifiers."""
