"""Data for the course: real image sets (MNIST, Fashion-MNIST, emoji) and the procedural shapes world."""

from t2ilib.data.datasets import (DATASETS, ImageDataset, fashion_caption, load_dataset, load_emoji,
                                  load_fashion_mnist, load_mnist, mnist_caption, resize_images)
from t2ilib.data.loaders import epoch_batches
from t2ilib.data.shapes import HELD_OUT_PAIRS, Scene, ShapeObject, ShapesBatch, ShapesWorld, render_scenes, sample_scene
from t2ilib.data.shapes import scene_for_caption, scene_from_attributes
from t2ilib.data.shapes_captions import COLORS, POSITIONS, RELATIONS, SHAPES, SIZES, parse_caption, vocabulary

__all__ = ["DATASETS", "ImageDataset", "load_dataset", "load_mnist", "load_fashion_mnist", "load_emoji",
           "mnist_caption", "fashion_caption", "resize_images", "epoch_batches", "ShapesWorld", "ShapesBatch",
           "Scene", "ShapeObject", "render_scenes", "sample_scene", "scene_for_caption", "scene_from_attributes", "HELD_OUT_PAIRS", "COLORS", "SHAPES", "SIZES",
           "POSITIONS", "RELATIONS", "parse_caption", "vocabulary"]
