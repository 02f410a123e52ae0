"""Evaluation: real labelled data sets and the harnesses that measure Vigil on them."""

from vigil.evaluation.datasets import LabeledImages, load_fashion_mnist

__all__ = ["LabeledImages", "load_fashion_mnist"]
