"""Shape classification: a small CNN that tells circles, squares, triangles and crosses apart."""

from shapes.data import CLASSES, ShapesDataset
from shapes.model import ShapeCNN

__all__ = ["CLASSES", "ShapeCNN", "ShapesDataset"]
