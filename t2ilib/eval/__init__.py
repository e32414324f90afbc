"""Evaluation: the judges that grade generated images, and the measurements built on them.

* :mod:`t2ilib.eval.judges` -- image classifiers (the digit and fashion judges);
* :mod:`t2ilib.eval.shapes_count` -- counting objects by connected components (``python -m t2ilib.eval.shapes_count``);
* :mod:`t2ilib.eval.shapes_probe` -- the shapes-world attribute probe; with the counter, whether an image matches its
  caption;
* :mod:`t2ilib.eval.metrics` -- judge features, Frechet distance ("judge FID"), class fidelity;
* :mod:`t2ilib.eval.sample_quality` -- digit samples graded by the judge (FID with its floor, confidence, coverage);
* :mod:`t2ilib.eval.fidelity` -- prompt fidelity by caption group (``python -m t2ilib.eval.fidelity``);
* :mod:`t2ilib.eval.samplers` -- sampler and step count vs time vs quality (``python -m t2ilib.eval.samplers``).

The package imports nothing itself, so a notebook that needs one judge loads only that.
"""
