"""The application layer: every user action once, for the CLI and the TUI.

Textual-free; builds on :mod:`numatui.model` and :mod:`numatui.session`.
``vm.Vm`` owns the running QEMU (session, launcher, undo history, autosave)
and has one method per action; ``export`` renders every output format;
``unplug`` tracks eject requests; ``actions`` is the table of user actions
(keys, labels, when each is available) the TUI derives its keys from.
"""
