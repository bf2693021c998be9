"""Training code and data-set builders for FashionM3's own models (not part of the runtime ``agent`` package).

Like diffusers' ``examples/``, this package sits beside the runtime: it imports ``agent`` (the
models, the vocabulary, the planners it learns from), and nothing under ``agent`` imports it (a test
checks this). Its commands reach ``fashionm3`` through the ``fashionm3.commands`` entry-point group
(:mod:`training.cli`): ``fashionm3 train ...``, ``fashionm3 data ...`` and ``fashionm3 eval-planner``.

* :mod:`training.planner` -- the planner data set (``data``, ``data_extra``, phrasings in
  ``families/*.yaml``), its metrics and the LoRA fine-tuning of the planner (``train``);
* :mod:`training.vision` -- the image encoder and its category classifier;
* :mod:`training.imagegen` -- the Fashion-MNIST diffusion generator.
"""
