"""Embryo modelling package: the hybrid GNN + ViT segmenter, its data generator and its metrics."""

from embryo.data import SyntheticEmbryoDataGenerator
from embryo.metrics import dice_score
from embryo.models import GNNViTHybrid

__all__ = ["GNNViTHybrid", "SyntheticEmbryoDataGenerator", "dice_score"]
