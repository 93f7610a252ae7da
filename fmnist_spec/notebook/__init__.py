"""The notebook face of fmnist-spec, beside the CLI and as thin: ``%load_ext fmnist_spec``.

:mod:`.magic` holds the ``%%fmnist_spec`` / ``%fmnist_spec`` magics (IPython needed);
:mod:`.displays` and :mod:`.html` how the library's results show themselves (no IPython,
no TensorFlow); :mod:`.progress` the live progress display of a fit in a kernel.
See docs/notebook.md.
"""
