import io

import orjson
import pytest

from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Unreadable, json_format

P1 = {"provider_ref": "a", "amount_pence": 1}
P2 = {"provider_ref": "b", "amount_pence": 2}


def parse(data: bytes):
    return [(p.kind, p.position, p.value, p.error) for p in json_format.parse(io.BytesIO(data))]


@pytest.fixture(params=[7, 1 << 20], ids=["tiny-chunks", "normal-chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(json_format, "CHUNK", request.param)


def test_array_items_are_numbered_from_one(chunk):
    data = b"\xef\xbb\xbf \n[ " + orjson.dumps(P1) + b" ,\n" + orjson.dumps(P2) + b", 12345, [1] ]\n"
    assert parse(data) == [("item", 1, P1, None), ("item", 2, P2, None),
                           ("item", 3, None, "expected a JSON object, got int"),
                           ("item", 4, None, "expected a JSON object, got list")]
    assert parse(b"[]") == []


def test_large_array_is_checked_whole_before_anything_is_yielded(chunk, monkeypatch):
    monkeypatch.setattr(json_format, "SINGLE_PASS_BYTES", 10)  # force the two-pass path
    items = [{"provider_ref": str(i), "amount_pence": i} for i in range(50)]
    assert [v for _, _, v, _ in parse(orjson.dumps(items))] == items
    broken = orjson.dumps(items)[:-30]
    it = json_format.parse(io.BytesIO(broken))
    with pytest.raises(Unreadable, match="invalid JSON in item 50|without a closing"):
        next(it)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"  \n ", "empty"),
    (b"account_ref,amount\n1,2\n", "not JSON"),
    ('[{"a": "\u00e9"}]'.encode("utf-16"), "UTF-16"),
    (b'[{"a": "\xff"}]', "UTF-8"),
    (b'{"a": 1}\n{"a": 2}\n{"reference": "caf\xe9"}\n', "UTF-8 text \\(line 3\\)"),
    (b'[{"a": 1}, {"b": ', "item 2"),
    (b'[{"a": 1},]', "item 2"),
    (b'[{"a": 1} {"b": 2}]', "after item 1"),
    (b'[{"a": 1}', "closing"),
    (b'[{"a": 1}] trailing', "after the end"),
])
def test_unreadable_files_are_refused_whole(chunk, data, reason):
    with pytest.raises(Unreadable, match=reason):
        parse(data)


def test_json_lines_are_numbered_by_line_and_a_bad_line_does_not_stop_the_rest(chunk):
    data = orjson.dumps(P1) + b"\r\n\n{not json\n[1, 2]\n" + orjson.dumps(P2) + b"\n"
    got = parse(data)
    assert got[0] == ("line", 1, P1, None)
    assert got[1][:3] == ("line", 3, None) and got[1][3].startswith("invalid JSON")
    assert got[2] == ("line", 4, None, "expected a JSON object, got list")
    assert got[3] == ("line", 5, P2, None)


def test_a_single_pretty_printed_object_is_one_item():
    assert parse(orjson.dumps(P1, option=orjson.OPT_INDENT_2)) == [("item", 1, P1, None)]


def test_overlong_line_is_rejected_and_reading_goes_on(monkeypatch):
    monkeypatch.setattr(json_format, "MAX_ITEM_CHARS", 40)
    data = orjson.dumps(P1) + b"\n" + b'{"x": "' + b"y" * 100 + b'"}\n' + orjson.dumps(P2) + b"\n"
    got = parse(data)
    assert [(k, n) for k, n, _, _ in got] == [("line", 1), ("line", 2), ("line", 3)]
    assert "longer" in got[1][3] and got[2][2] == P2


def test_registry_names_supported_formats_and_sniffs_json():
    assert "json" in formats.supported() and "auto" in formats.supported()
    assert formats.resolve("auto", b"  [").name == "json"
    assert formats.resolve("auto", b"{").name == "json"
    with pytest.raises(formats.UnknownFormat, match="supported: auto, addacs, .*json"):
        formats.resolve("mt940", b"")
    with pytest.raises(Unreadable):
        formats.resolve("auto", b":20:MT940 STATEMENT")
