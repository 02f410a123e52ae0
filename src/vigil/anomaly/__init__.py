"""Anomaly detection from normal examples only ("what is unusual here").

``features`` cuts patch vectors out of the bundled EfficientNet-Lite0;
``patchcore`` keeps a coreset of the normals' patches and scores anything by
its distance to them (PatchCore, on FAISS); ``evaluate`` measures it on ELPV
solar cells; ``export`` writes the scorer for the edge (ONNX + bank + card).
"""
