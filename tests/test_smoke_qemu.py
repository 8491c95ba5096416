from conftest import Qemu


async def test_fixture_reads_qemu_through_its_own_monitor(qemu: Qemu) -> None:
    status = await qemu.qmp("query-status")
    assert status["status"] == "prelaunch"
    nodes = await qemu.nodes()
    assert len(nodes) == 8 and set(nodes.values()) == {None}
