"""The live layer: a QMP session with one QEMU (async, qemu.qmp only, no Textual).

``session.Session.connect(address)`` reads the machine; ``assign``/``add_node``/
``set_distance``/``exit_preconfig`` change it in preconfig; ``hotplug``/
``unplug`` after boot.  Modules: address (QMP addresses), errors, transcript
(the QMP log), connect + connection (the link), machine (facts read over QMP),
discovery + peer (where the NUMA nodes come from), session (the operations),
launcher (starting QEMU), replay + memory (a new QEMU with the plan replayed).
"""
