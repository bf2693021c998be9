"""The command line, run as a real subprocess against a small catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.context import Context


def _cli(args: list[str], settings: Context, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FASHIONM3_DATA_DIR": settings.data_dir, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=300)


@pytest.mark.slow
def test_ask_json_then_continue_thread(catalog_settings: Context) -> None:
    out = _cli(["ask", "show me red dresses", "--json", "--thread", "cli-t1"], catalog_settings)
    assert out.returncode == 0, out.stderr
    resp = json.loads(out.stdout)
    assert resp["thread"] == "cli-t1" and resp["tools"] == ["search_catalog"]
    assert resp["items"] and all(i["category"] == "dress" and i["color"] == "red" for i in resp["items"])
    first = resp["items"][0]
    out = _cli(["ask", "something cheaper than the first one", "--json", "--thread", "cli-t1"], catalog_settings)
    resp = json.loads(out.stdout)
    assert resp["tools"] == ["find_alternatives"]
    assert resp["calls"][0]["args"]["item_id"] == first["id"]
    assert all(i["price"] < first["price"] and i["category"] == "dress" for i in resp["items"])


@pytest.mark.slow
def test_chat_repl_shows_a_table_and_exits_on_eof(catalog_settings: Context) -> None:
    out = _cli(["chat", "--thread", "cli-chat"], catalog_settings, stdin="/help\nshow me navy coats\n/thread\n")
    assert out.returncode == 0, out.stderr
    assert "Commands: /image PATH" in out.stdout
    assert "┃ id" in out.stdout or "id " in out.stdout
    assert "COT-" in out.stdout and "thread cli-chat" in out.stdout
    assert "fashionm3 chat --thread cli-chat" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "hello", "--image", "/no/such/photo.jpg"], "error: /no/such/photo.jpg is not a file"),
        (["catalog", "ingest", "/no/such/shop.csv"], "error: /no/such/shop.csv: no such file"),
        (["eval", "/no/such/folder"], "error: /no/such/folder: no such file or folder"),
        (["ask", "hello", "--planner", "oracle"], "error: unknown planner 'oracle'"),
    ],
)
def test_bad_input_is_one_clear_line(catalog_settings: Context, args: list[str], message: str) -> None:
    out = _cli(args, catalog_settings)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(message), out.stderr


def test_ingest_unsupported_file_type(catalog_settings: Context, tmp_path: Path) -> None:
    f = tmp_path / "shop.xlsx"
    f.write_text("x")
    out = _cli(["catalog", "ingest", str(f)], catalog_settings)
    assert out.returncode == 2 and "unsupported file type '.xlsx'" in out.stderr


def test_ingest_dry_run_prints_the_summary_and_rows(tmp_path: Path) -> None:
    settings = Context(data_dir=str(tmp_path / "data"))
    fixtures = Path(__file__).parent / "fixtures" / "catalogs"
    out = _cli(["catalog", "ingest", str(fixtures / "eu_excel.csv"), "--dry-run"], settings)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].endswith("eu_excel.csv: 4 rows read as generic (detected), ';' separated, utf-8 (BOM) (dry run: "
                             "nothing stored)")
    assert lines[1:4] == ["would be added: 3 products", "would be updated: 0", "rejected: 1"]
    assert "first rows as they would be stored:" in lines
    assert not (tmp_path / "data" / "catalog" / "catalog.jsonl").exists()
    out = _cli(["catalog", "ingest", str(fixtures / "unknown_header.csv")], settings)
    assert out.returncode == 2 and "Columns not recognised: Code, Cost, Kind (closest: id), Shade" in out.stderr
    out = _cli(["catalog", "ingest", str(fixtures / "unknown_header.csv"), "--dry-run",
                "--map", "id=Code,price=Cost,category=Kind,color=Shade"], settings)
    assert out.returncode == 0 and "would be added: 1 products" in out.stdout, out.stderr
