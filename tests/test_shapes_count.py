"""The object counter of the shapes judge: connected components against scipy, counts on true renders with 0-4
objects, and the judge rejecting an image with an object too many."""

import numpy as np
import pytest
import torch

from t2ilib.data.shapes import GAP, RADIUS, render_scenes, scattered_objects
from t2ilib.data.shapes_render import EXTENT, SHAPES, render_objects, shape_sdf
from t2ilib.eval.shapes_count import (COUNT_WORDS, component_areas, connected_components, count_objects, count_word,
                                      counting_accuracy, foreground)


def test_connected_components_agree_with_scipy():
    from scipy import ndimage

    g = torch.Generator().manual_seed(0)
    masks = torch.rand(40, 17, 23, generator=g) < torch.linspace(0.2, 0.65, 40).view(40, 1, 1)  # sparse to percolating
    masks[0] = False
    labels = connected_components(masks)
    for m, lab in zip(masks, labels):
        ref, n = ndimage.label(m.numpy())  # default structure: the 4-neighbourhood
        assert len(torch.unique(lab[lab > 0])) == n
        # the same partition: one of our labels per scipy label and the other way round
        pairs = set(zip(ref[m.numpy()].tolist(), lab[m].tolist()))
        assert len(pairs) == n and len({a for a, _ in pairs}) == n and len({b for _, b in pairs}) == n
        assert (lab[~m] == 0).all()
        areas = component_areas(lab[None])[0]
        assert sorted(areas.values()) == sorted(np.bincount(ref[ref > 0]).tolist()[1:])


def test_connected_components_follow_a_winding_path():
    mask = torch.zeros(1, 9, 9, dtype=torch.bool)
    mask[0, ::2, :] = True  # rows 0, 2, 4, 6, 8 ...
    mask[0, 1::4, -1] = True  # ... joined at the right end of rows 1 and 5
    mask[0, 3::4, 0] = True  # ... and at the left end of row 3 and 7: one snake of 49 pixels
    lab = connected_components(mask)
    assert set(lab[mask].tolist()) == {1} and component_areas(lab)[0] == {1: 49}
    diagonal = torch.eye(4, dtype=torch.bool)[None]  # touching corners only: four components
    assert len(component_areas(connected_components(diagonal))[0]) == 4


def test_extent_is_the_radius_of_the_circle_that_holds_each_shape():
    c = torch.linspace(-1.6, 1.6, 1601)
    y, x = torch.meshgrid(c, c, indexing="ij")
    for shape in SHAPES:
        inside = shape_sdf(shape, x, y, torch.tensor(1.0)) <= 0
        reach = float(torch.sqrt(x**2 + y**2)[inside].max())
        assert reach <= EXTENT[shape] <= reach + 0.005, (shape, reach)


def test_scattered_objects_keep_their_distance_and_are_reproducible():
    for k in range(5):
        for i in range(20):
            objs = scattered_objects(3, i, k)
            assert len(objs) == k and objs == scattered_objects(3, i, k)
            for j, a in enumerate(objs):
                ea = a.radius * EXTENT[a.shape]
                assert ea <= a.cx <= 1 - ea and ea <= a.cy <= 1 - ea
                for b in objs[j + 1:]:
                    assert np.hypot(a.cx - b.cx, a.cy - b.cy) >= ea + b.radius * EXTENT[b.shape] + GAP - 1e-9
    assert scattered_objects(3, 0, 3) != scattered_objects(3, 1, 3)
    for bad in (-1, 5, 2.0, True):
        with pytest.raises(ValueError, match="n_objects"):
            scattered_objects(0, 0, bad)


def test_the_counter_counts_true_renders_with_zero_to_four_objects():
    for noise in (0.0, 0.15):
        acc = counting_accuracy(150, noise=noise, seed=11)
        assert set(acc) == {0, 1, 2, 3, 4}
        assert min(acc.values()) >= 0.99, (noise, acc)
    acc = counting_accuracy(60, counts=(2, 3), resolution=64, seed=12)  # resized to 32 px before counting
    assert min(acc.values()) >= 0.98, acc


def test_the_counter_ignores_specks_and_faint_haze():
    x = -torch.ones(3, 3, 32, 32)
    x[0, :, 5, 5] = 1.0  # one bright pixel: a speck, not an object
    x[1] += 0.5  # faint haze over everything: still background (below a third of full scale)
    x[2, 1, 10:14, 10:14] = 1.0  # a 4 x 4 green patch: 16 pixels, an object
    assert count_objects(x).tolist() == [0, 0, 1]
    assert foreground(x)[1].sum() == 0


def test_count_words_and_errors():
    assert [count_word(n) for n in range(6)] == ["none", "one", "two"] + ["more than two"] * 3
    assert COUNT_WORDS[-1] == "more than two"
    with pytest.raises(ValueError, match="n: expected"):
        count_word(-1)
    with pytest.raises(ValueError, match="images"):
        count_objects(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 32 x 32"):
        count_objects(torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="mask"):
        connected_components(torch.zeros(2, 8, 8))


def test_the_judge_rejects_an_object_too_many():
    """A true two-object render with a third object added: the probe alone (trained on one or two objects) may
    still read the caption's two objects; the judge counts three and the caption does not match."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.eval.fidelity import two_object_errors
    from t2ilib.eval.shapes_probe import caption_matches, judge_images

    probe = load_pretrained("shapes_probe", "cpu")
    world = ShapesWorld(60, 32, seed=5, split="test", n_objects=2)
    scenes, crowded, kept = [world.scene(i) for i in range(60)], [], []
    for s in scenes:
        spot = _free_spot(s.objects)
        if spot is not None:
            kept.append(s)
            crowded.append([(o.shape, o.color, o.cx, o.cy, o.radius) for o in s.objects] +
                           [("circle", "yellow", *spot, RADIUS["small"])])
    assert len(kept) >= 20
    plain = render_scenes(kept).float().div(127.5).sub(1)
    extra = render_objects(crowded, 32).float().div(127.5).sub(1)
    captions = [s.caption for s in kept]
    assert sum(caption_matches(probe, plain, captions)) >= 0.95 * len(kept)
    assert not any(caption_matches(probe, extra, captions))
    assert [r["count"] for r in judge_images(probe, extra)] == [3] * len(kept)
    assert set(two_object_errors(judge_images(probe, extra), kept)) == {"more than two objects"}


def _free_spot(objects, r=RADIUS["small"]):
    """A centre for a small circle GAP away from every object, or None."""
    for cx in np.linspace(r + 0.03, 1 - r - 0.03, 9):
        for cy in np.linspace(r + 0.03, 1 - r - 0.03, 9):
            if all(np.hypot(cx - o.cx, cy - o.cy) >= r + o.radius * EXTENT[o.shape] + GAP for o in objects):
                return float(cx), float(cy)
    return None


def test_shapes_fidelity_scores_true_renders_right_and_an_extra_object_wrong(monkeypatch):
    """shapes_fidelity with an oracle in place of the sampler: true renders of the captions score ~100 %; the same
    renders with an extra object score 0 % and are all counted as having extra objects."""
    from t2ilib.data.shapes import ShapesWorld
    from t2ilib.eval import fidelity

    def scenes_for(captions):
        pool = {}
        for split, k in fidelity.GROUPS.values():
            w = ShapesWorld(40, 32, fidelity.CAPTION_SEED, split, n_objects=k)
            pool.update({w.scene(i).caption: w.scene(i) for i in range(40)})
        return [pool[c] for c in captions]

    def oracle(model, captions, guidance, steps, seed, threshold, sampling=None):
        return render_scenes(scenes_for(captions)).float().div(127.5).sub(1)

    def crowded(model, captions, guidance, steps, seed, threshold, sampling=None):
        lists = []
        for s in scenes_for(captions):
            objs = [(o.shape, o.color, o.cx, o.cy, o.radius) for o in s.objects]
            spot = _free_spot(s.objects)
            lists.append(objs + ([("cross", "green", *spot, RADIUS["small"])] if spot else objs[:1]))
        return render_objects(lists, 32).float().div(127.5).sub(1)

    monkeypatch.setattr(fidelity, "_generate", oracle)
    r = fidelity.shapes_fidelity(None, n_per_group=40)
    assert r["fidelity"] >= 0.97 and all(r[f"{g}, extra objects"] == 0 for g in fidelity.GROUPS), r
    assert r["seen, 2 objects, errors"]["right"] == r["seen, 2 objects"]
    sub = fidelity.shapes_fidelity(None, n_per_group=40, groups=["seen, 2 objects"], containing=("small", "red"))
    kept = [c for c in fidelity.fidelity_captions("seen, 2 objects", 40) if "small" in c and "red" in c]
    assert sub["seen, 2 objects, n"] == len(kept) > 0
    with pytest.raises(ValueError, match="containing"):
        fidelity.shapes_fidelity(None, n_per_group=5, groups=["seen, 1 object"], containing=("no such words",))
    monkeypatch.setattr(fidelity, "_generate", crowded)
    r = fidelity.shapes_fidelity(None, n_per_group=40, groups=["seen, 1 object", "seen, 2 objects"])
    assert r["fidelity"] == 0 and r["seen, 2 objects, extra objects"] >= 0.9, r
    assert r["seen, 2 objects, errors"]["more than two objects"] == r["seen, 2 objects, extra objects"]


def test_the_counting_benchmark_prints_accuracy_per_count(capsys):
    from t2ilib.eval.shapes_count import main

    main(["--n", "30", "--noise", "0", "0.1", "--resolution", "32"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 32 px")]
    assert len(rows) == 2 and all(line.count("%") == 5 for line in rows), out
    with pytest.raises(SystemExit):
        main(["--resolution", "16"])
    assert "--resolution >= 32" in capsys.readouterr().err
