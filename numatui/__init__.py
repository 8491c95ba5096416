"""numatui: map QEMU guest vCPUs to NUMA nodes, live, in a terminal UI."""

__version__ = "0.1.0"
