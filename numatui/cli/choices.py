"""The names the command line offers as choices and in its help, as plain
constants: building the parser for ``numatui show`` must not import the
exporters, the presets or the host reader (each costs every headless command
its import time).  tests/test_cli_imports.py pins each to its source."""

#: :data:`numatui.core.export.EXPORT_FORMATS`.
EXPORT_FORMATS = ("numa", "cmdline", "json", "libvirt", "openstack")

#: :func:`numatui.core.presets.preset_names`.
PRESET_NAMES = ("socket", "die", "module", "cluster", "split", "interleave", "host")

#: The values of :class:`numatui.model.pinning.PinPolicy`.
PIN_POLICIES = ("node", "cpu")
