import csv
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from rentflow_common.exports import csv_writer, safe_cell


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"click\")", "+1+1", "-1+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\t=1", "\r=1", "=1"])
def test_formula_looking_text_is_neutralised(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Jo Brown", "10000010", -2500, 12.5, Decimal("-4.80"), "-2500", "-12.50", "+3",
                                   None, "", "a=b", "O'Neil"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert safe_cell(value) == value


def test_the_csv_writer_neutralises_every_cell():
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["name", "=2+5"])
    w.writerows([["@x", -100], ["ok", "-5"]])
    assert list(csv.reader(io.StringIO(buf.getvalue()))) == [["name", "'=2+5"], ["'@x", "-100"], ["ok", "-5"]]


def test_an_xlsx_cell_is_text_not_a_formula(tmp_path):
    wb = Workbook()
    wb.active.append([safe_cell("=1+1"), safe_cell(5)])
    wb.save(tmp_path / "x.xlsx")
    cell = load_workbook(tmp_path / "x.xlsx").active["A1"]
    assert cell.data_type == "s" and cell.value == "'=1+1"
    unsafe = Workbook()
    unsafe.active.append(["=1+1"])  # what openpyxl does without it: a formula
    assert unsafe.active["A1"].data_type == "f"
