"""The pure NUMA model: slots, topology, plans, command lines, checks.

Nothing here imports Textual or qemu.qmp or does I/O (tests/test_layers.py
proves it).
"""
