"""``python -m numatui.bench``: is numatui as fast as raw QMP, and does the
screen scale to QEMU's largest machines?

Every figure is a ratio measured side by side in one run (numerator and
denominator interleaved), because absolute times on a shared machine drift.
See :mod:`numatui.bench.runner` for what is measured and
:mod:`numatui.bench.report` for the goals.
"""
