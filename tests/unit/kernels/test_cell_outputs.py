from pyexec.kernels.cell_outputs import CellOutputCollector


def test_consecutive_streams_of_one_name_merge_but_announce_chunks() -> None:
    c = CellOutputCollector()
    assert c.add("stream", {"name": "stdout", "text": "a\n"}) == {
        "output_type": "stream",
        "name": "stdout",
        "text": "a\n",
    }
    chunk = c.add("stream", {"name": "stdout", "text": "b\n"})
    c.add("stream", {"name": "stderr", "text": "oops\n"})
    c.add("stream", {"name": "stdout", "text": "c\n"})

    assert chunk is not None and chunk["text"] == "b\n"
    assert [(o["name"], o["text"]) for o in c.outputs] == [
        ("stdout", "a\nb\n"),
        ("stderr", "oops\n"),
        ("stdout", "c\n"),
    ]


def test_rich_outputs_become_nbformat_dicts() -> None:
    c = CellOutputCollector()
    c.add("execute_result", {"execution_count": 3, "data": {"text/plain": "2"}, "metadata": {}})
    c.add("display_data", {"data": {"image/png": "iVBOR"}, "metadata": {"x": 1}, "transient": {}})
    c.add("error", {"ename": "ValueError", "evalue": "bad", "traceback": ["tb"]})
    assert c.outputs == [
        {
            "output_type": "execute_result",
            "execution_count": 3,
            "data": {"text/plain": "2"},
            "metadata": {},
        },
        {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {"x": 1}},
        {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["tb"]},
    ]


def test_clear_output_now_and_with_wait() -> None:
    c = CellOutputCollector()
    c.add("stream", {"name": "stdout", "text": "1"})
    c.add("clear_output", {"wait": False})
    assert c.outputs == []

    c.add("stream", {"name": "stdout", "text": "2"})
    c.add("clear_output", {"wait": True})
    assert len(c.outputs) == 1
    c.add("stream", {"name": "stdout", "text": "3"})
    assert [o["text"] for o in c.outputs] == ["3"]


def test_update_display_data_updates_in_place() -> None:
    c = CellOutputCollector()
    c.add(
        "display_data",
        {"data": {"text/plain": "0%"}, "metadata": {}, "transient": {"display_id": "p"}},
    )
    updated = c.add(
        "update_display_data",
        {"data": {"text/plain": "100%"}, "metadata": {}, "transient": {"display_id": "p"}},
    )
    assert updated is not None and updated["data"] == {"text/plain": "100%"}
    assert len(c.outputs) == 1 and c.outputs[0]["data"] == {"text/plain": "100%"}
    assert c.add("update_display_data", {"data": {}, "transient": {"display_id": "nope"}}) is None


def test_stream_text_is_bounded_and_the_drop_is_said() -> None:
    c = CellOutputCollector(max_stream_chars=10)
    assert c.add("stream", {"name": "stdout", "text": "12345678"}) is not None
    chunk = c.add("stream", {"name": "stdout", "text": "abcdef"})
    assert chunk is not None and chunk["text"] == "ab"
    assert c.add("stream", {"name": "stderr", "text": "more"}) is None
    c.add("display_data", {"data": {"text/plain": "kept"}, "metadata": {}})
    note = c.finish()
    assert note is not None and "8 more characters" in note["text"]
    assert [o.get("text") for o in c.outputs] == ["12345678ab", None, note["text"]]
    assert c.finish() is None


def test_clear_output_makes_room_again() -> None:
    c = CellOutputCollector(max_stream_chars=4)
    c.add("stream", {"name": "stdout", "text": "1234"})
    c.add("clear_output", {"wait": False})
    c.add("stream", {"name": "stdout", "text": "5678"})
    assert c.outputs == [{"output_type": "stream", "name": "stdout", "text": "5678"}]
    assert c.finish() is None
