"""The Textual app: the CPU grid and its panels over a live QEMU session.

Entry point for the CLI: :func:`numatui.tui.app.run_tui`.
"""
