"""Shapes world: determinism, caption <-> attribute consistency, geometry, held-out split, bad input."""

import itertools

import numpy as np
import pytest
import torch

from t2ilib.data import (COLORS, HELD_OUT_PAIRS, POSITIONS, RELATIONS, SHAPES, SIZES, ShapesWorld, parse_caption,
                         render_scenes, sample_scene, scene_for_caption, vocabulary)
from t2ilib.data.shapes_captions import ONE_TEMPLATES, TWO_TEMPLATES, render_caption
from t2ilib.data.shapes_render import BACKGROUND_RGB, COLOR_RGB, render_objects


def test_at_least_the_required_vocabulary():
    assert {"circle", "square", "triangle"} <= set(SHAPES) and len(SHAPES) >= 4
    assert len(COLORS) >= 6 and set(SIZES) == {"small", "large"}
    assert {"left", "right", "top", "bottom"} <= set(POSITIONS)


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_deterministic_and_index_addressed(resolution):
    w = ShapesWorld(1000, resolution, seed=5)
    b = w.batch(10, 20)
    assert b.images.shape == (20, 3, resolution, resolution)
    assert b.images.min() >= -1 and b.images.max() <= 1
    assert torch.equal(b.images, ShapesWorld(1000, resolution, seed=5).batch(10, 20).images)
    single = torch.stack([w[i][0] for i in range(10, 30)])
    assert torch.equal(single, b.images)  # same scene whatever the batch composition
    assert [w[i][1] for i in range(10, 30)] == b.captions
    assert not torch.equal(b.images, ShapesWorld(1000, resolution, seed=6).batch(10, 20).images)


def _all_attribute_dicts():
    for s, c, z, p in itertools.product(SHAPES, COLORS, SIZES, POSITIONS):
        yield {"n_objects": 1, "shape": s, "color": c, "size": z, "position": p}
    for (sa, ca, za), (sb, cb, zb), r in itertools.product(
            itertools.product(SHAPES[:3], COLORS[:3], SIZES), itertools.product(SHAPES[3:], COLORS[3:], SIZES),
            RELATIONS):
        yield {"n_objects": 2, "shape_a": sa, "color_a": ca, "size_a": za, "shape_b": sb, "color_b": cb,
               "size_b": zb, "relation": r}


def test_every_template_parses_back_to_its_attributes():
    n = 0
    for attrs in _all_attribute_dicts():
        templates = ONE_TEMPLATES if attrs["n_objects"] == 1 else TWO_TEMPLATES
        for t in range(len(templates)):
            for v in (0, 1):
                cap = render_caption(attrs, t, v)
                assert parse_caption(cap) == attrs, cap
                assert set(cap.lower().replace(",", " ").split()) <= set(vocabulary())
                n += 1
    assert n > 3000


def test_sampled_scenes_caption_matches_attributes_and_uses_every_template():
    w = ShapesWorld(2000, 16)
    seen = set()
    for i in range(2000):
        s = w.scene(i)
        assert parse_caption(s.caption) == s.attributes()
        seen.add((len(s.objects), s.template, s.variant))
    assert len(seen) == 2 * len(ONE_TEMPLATES) + 2 * len(TWO_TEMPLATES)


def test_unparseable_captions():
    assert parse_caption("a red circle") is None  # size and position are part of the grammar
    assert parse_caption("a small red dog on the left") is None
    assert parse_caption("  A Small Red Circle On The Left. ") == {
        "n_objects": 1, "shape": "circle", "color": "red", "size": "small", "position": "left"}


def _mask(img, color):
    rgb = torch.tensor(COLOR_RGB[color], dtype=torch.float32).view(3, 1, 1)
    return ((img.float() - rgb).abs().sum(0) < 30)


def test_rendered_geometry_agrees_with_the_caption():
    """Colour masks: the object is where the caption says, and 'A left of B' holds in pixels."""
    scenes = [sample_scene(1, "train", i) for i in range(400)]
    imgs = render_scenes(scenes, 32)
    checked = 0
    for s, img in zip(scenes, imgs):
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        if len(s.objects) == 1:
            m = _mask(img, s.objects[0].color)
            assert m.sum() > 10
            cx, cy = xs[m].mean() / 32, ys[m].mean() / 32
            expect = {"left": cx < 0.4, "right": cx > 0.6, "top": cy < 0.4, "bottom": cy > 0.6,
                      "center": abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1}[s.position]
            assert expect, (s.caption, float(cx), float(cy))
            checked += 1
        elif s.objects[0].color != s.objects[1].color:
            ma, mb = _mask(img, s.objects[0].color), _mask(img, s.objects[1].color)
            ax, ay, bx, by = xs[ma].mean(), ys[ma].mean(), xs[mb].mean(), ys[mb].mean()
            ok = {"left of": ax < bx - 4, "right of": ax > bx + 4, "above": ay < by - 4, "below": ay > by + 4}
            assert ok[s.relation], s.caption
            checked += 1
    assert checked > 300


def test_large_objects_are_larger_and_shapes_differ():
    area = {z: [] for z in SIZES}
    for i in range(300):
        s = sample_scene(2, "train", i, n_objects=1)
        area[s.objects[0].size].append(float(_mask(render_scenes([s], 32)[0], s.objects[0].color).sum()))
    assert min(area["large"]) > max(area["small"])
    objs = [[(shape, "red", 0.5, 0.5, 0.3)] for shape in SHAPES]
    imgs = render_objects(objs, 32).float()
    for i, j in itertools.combinations(range(len(SHAPES)), 2):
        assert (imgs[i] - imgs[j]).abs().sum() > 500, (SHAPES[i], SHAPES[j])
    assert imgs[0][:, 0, 0].tolist() == list(map(float, BACKGROUND_RGB))


def test_held_out_split_is_disjoint_and_compositional():
    assert len(HELD_OUT_PAIRS) == 6
    # every colour and every shape still occurs in training
    assert {c for c, _ in HELD_OUT_PAIRS} == set(COLORS) and {s for _, s in HELD_OUT_PAIRS} == set(SHAPES)
    train_pairs = set()
    for split in ("train", "test"):
        for i in range(3000):
            s = sample_scene(0, split, i)
            assert not s.is_held_out()
            train_pairs |= {(o.color, o.shape) for o in s.objects}
    assert train_pairs == set(itertools.product(COLORS, SHAPES)) - HELD_OUT_PAIRS
    held = [sample_scene(0, "held_out", i) for i in range(2000)]
    assert all(s.is_held_out() for s in held)
    assert {(o.color, o.shape) for s in held for o in s.objects} >= HELD_OUT_PAIRS
    assert {len(s.objects) for s in held} == {1, 2}


def test_scene_for_caption_and_its_errors():
    s = scene_for_caption("a large blue square left of a small green triangle", seed=3)
    assert s.attributes()["relation"] == "left of" and s.objects[0].color == "blue"
    with pytest.raises(ValueError, match="Unknown words: \\['dog'\\]"):
        scene_for_caption("a small red dog on the left")
    with pytest.raises(ValueError, match="non-empty string"):
        scene_for_caption("   ")


@pytest.mark.parametrize("kwargs,match", [
    (dict(resolution=4), "resolution: expected an int >= 8"),
    (dict(resolution=32.0), "resolution"),
    (dict(split="validation"), "split: expected one of"),
    (dict(n_objects=3), "n_objects: expected 1, 2"),
    (dict(size=0), "size: expected a positive int"),
])
def test_bad_arguments_give_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShapesWorld(**{"size": 10, **kwargs})


def test_render_rejects_unknown_shape_and_colour():
    from t2ilib.data.shapes_render import render_objects

    with pytest.raises(ValueError, match="shape: expected one of"):
        render_objects([[("star", "red", 0.5, 0.5, 0.2)]], 16)
    with pytest.raises(ValueError, match="color: expected one of"):
        render_objects([[("circle", "pink", 0.5, 0.5, 0.2)]], 16)


def test_large_held_out_batch_at_64px():
    b = ShapesWorld(10_000, 64, split="held_out").batch(0, 256)
    assert b.images.shape == (256, 3, 64, 64) and len(b.attributes) == 256
    assert np.isfinite(b.images.numpy()).all()
