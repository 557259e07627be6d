"""The embedded mode's broker writes each message whole: a reader never takes a message being written,
and what a writer killed mid-write leaves behind stops no worker."""

from kombu import Connection

from arena.filesystem_broker import Transport


def test_a_message_is_renamed_into_place_and_a_half_written_one_is_skipped(tmp_path):
    folders = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),  # kombu's default is ./control, in the checkout
        "store_processed": False,
    }
    # What a writer killed mid-write leaves: stock kombu wrote it under its final name, empty.
    (tmp_path / "1_killed.probe.msg.partial").write_bytes(b"")
    with Connection(transport=Transport, transport_options=folders) as connection:
        queue = connection.SimpleQueue("probe")
        queue.put({"vote": 1})
        names = sorted(path.name for path in tmp_path.iterdir() if path.is_file())
        assert [name for name in names if name.endswith(".probe.msg")] != []
        assert names.count("1_killed.probe.msg.partial") == 1
        assert not [name for name in names if name.endswith(".partial") and "killed" not in name]
        message = queue.get(timeout=2)
        assert message.payload == {"vote": 1}
        message.ack()
        queue.close()
