"""The ``fashionm3`` command line: chat, ask, catalog, memory and eval.

Installed packages add commands through the ``fashionm3.commands`` entry-point group (see
:func:`add_plugin_commands`); this repository's ``training`` package adds ``train``, ``data`` and
``eval-planner`` that way. Nothing here imports ``training``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agent.context import Context
from agent.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="FashionM3: a multimodal fashion assistant.")
catalog_app = typer.Typer(no_args_is_help=True, help="Build, import and inspect the product catalog.")
app.add_typer(catalog_app, name="catalog")
memory_app = typer.Typer(no_args_is_help=True, help="Show or forget what the assistant remembers about a shopper.")
app.add_typer(memory_app, name="memory")
channels_app = typer.Typer(no_args_is_help=True, help="Messaging platforms: try them locally.")
app.add_typer(channels_app, name="channels")
db_app = typer.Typer(no_args_is_help=True, help="The PostgreSQL database of a scaled-out service.")
app.add_typer(db_app, name="db")
tools_app = typer.Typer(no_args_is_help=True, help="The tools planners can call.")
app.add_typer(tools_app, name="tools")
export_app = typer.Typer(no_args_is_help=True, help="Export models for other engines (vLLM).")
app.add_typer(export_app, name="export")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

DataDir = Annotated[
    str | None, typer.Option("--data-dir", help="Data folder (default: $FASHIONM3_DATA_DIR or ./data).")
]
User = Annotated[str | None, typer.Option("--user", help="Shopper id whose preferences are used.")]
PlannerOpt = Annotated[str | None, typer.Option("--planner", help="Planner: rules, smol, openai, transformers.")]
Thread = Annotated[str | None, typer.Option("--thread", help="Conversation thread id to continue.")]


def _settings(data_dir: str | None = None, user: str | None = None, planner: str | None = None) -> Context:
    return Context.from_env(data_dir=data_dir, user_id=user, planner=planner)


def _ensure_catalog(settings: Context, quiet: bool = False) -> None:
    from agent.catalog.manage import build_catalog, is_built
    from agent.services import open_catalog

    if not is_built(settings):
        if not quiet:
            err.print(f"[bold]No catalog in {settings.catalog_dir}: building the default one "
                      "(Fashion-MNIST, 3,000 items) ...[/bold]")
        t = time.perf_counter()
        report = build_catalog(settings, progress=not quiet)
        if not quiet:
            err.print(f"Built {report.items} items and {report.outfits} curated outfits in "
                      f"{time.perf_counter() - t:.0f} s.")
    else:
        from tqdm import tqdm

        from agent.catalog.manage import add_default_sizes

        sized = add_default_sizes(settings)
        if sized and not quiet:
            err.print(f"Added size variants to {sized} items of the default catalog (built before items had sizes).")
        catalog = open_catalog(settings)
        if catalog.index_count() != len(catalog.items):
            err.print("Re-indexing the catalog ...")
            with tqdm(total=len(catalog.items), desc="text index", unit="item", disable=quiet) as bar:
                catalog.reindex(progress=bar.update)
        with tqdm(desc="image index", unit="img", disable=quiet, delay=1.0) as bar:  # silent when nothing to do
            catalog.ensure_image_index(progress=bar.update)


def _planner(settings: Context, quiet: bool = False) -> Any:
    """Create the settings' planner and load a local model now, saying so, rather than in the first turn."""
    from agent.planners import get_planner
    from agent.planners.smol.base import BaseModelError

    planner = get_planner(settings.planner, settings=settings)
    setup = getattr(planner, "setup", None)
    if callable(setup) and settings.planner in ("smol", "transformers"):
        status = err.status(f"Loading the {settings.planner} planner (the first run on a machine prepares the "
                            "model from its package, about 30 s) ...")
        with nullcontext() if quiet else status:
            try:
                setup()
            except BaseModelError as exc:
                raise UserError(f"{exc} (or choose another planner with --planner rules)") from exc
    return planner


def _session(settings: Context, thread: str | None, quiet: bool = False) -> Any:
    from agent.services import open_checkpointer, open_store
    from agent.session import Session, new_thread_id
    from graph import build_graph

    g = build_graph(planner=_planner(settings, quiet), checkpointer=open_checkpointer(settings),
                    store=open_store(settings))
    return Session(graph=g, settings=settings, thread_id=thread or new_thread_id())


def _items_table(items: list[dict[str, Any]], currency: str) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for col in ("#", "id", "title", "colour", "price", "image"):
        table.add_column(col, overflow="fold")
    for n, it in enumerate(items, start=1):
        table.add_row(str(n), it["id"], it["title"], it["color"], f"{currency}{it['price']:.2f}", it.get("image", ""))
    return table


def _print_response(resp: dict[str, Any], currency: str) -> None:
    lines = [ln for ln in resp.get("text", "").splitlines() if not _is_item_line(ln, resp)]
    if lines:
        console.print("\n".join(lines), markup=False)
    if resp.get("items"):
        console.print(_items_table(resp["items"], currency))
    for path in resp.get("images", []):
        console.print(f"image: {path}", markup=False)


def _is_item_line(line: str, resp: dict[str, Any]) -> bool:
    return any(line.endswith(f"[{it['id']}]") for it in resp.get("items", []))


@app.command()
def chat(thread: Thread = None, user: User = None, planner: PlannerOpt = None, data_dir: DataDir = None) -> None:
    """Chat in the terminal. /image PATH attaches a photo, /new starts a new thread, /quit leaves."""
    settings = _settings(data_dir, user, planner)
    _ensure_catalog(settings)
    session = _session(settings, thread)
    console.print(f"[bold]FashionM3[/bold] - thread [cyan]{session.thread_id}[/cyan], user [cyan]{settings.user_id}"
                  f"[/cyan]. Ask for an outfit, alternatives or items. /help for commands.")
    pending: list[str] = []
    while True:
        try:
            text = console.input("[bold green]you>[/bold green] ")
        except (EOFError, KeyboardInterrupt):
            console.print(f"\nBye. Continue later with: fashionm3 chat --thread {session.thread_id}")
            return
        text = text.strip()
        if not text:
            continue
        if text.startswith("/"):
            cmd, _, rest = text.partition(" ")
            if cmd in ("/quit", "/exit", "/q"):
                console.print(f"Bye. Continue later with: fashionm3 chat --thread {session.thread_id}")
                return
            if cmd == "/new":
                from agent.session import new_thread_id

                session.thread_id = new_thread_id()
                pending.clear()
                console.print(f"New thread [cyan]{session.thread_id}[/cyan].")
                continue
            if cmd == "/image":
                parts = shlex.split(rest) if rest else []
                if not parts:
                    console.print("Usage: /image PATH [message]")
                    continue
                path = os.path.expanduser(parts[0])
                if not Path(path).is_file():
                    console.print(f"error: {path} is not a file; check the path.", markup=False)
                    continue
                pending.append(path)
                if len(parts) == 1:
                    console.print(f"Attached {path}; it goes with your next message.", markup=False)
                    continue
                text = " ".join(parts[1:])
            elif cmd == "/thread":
                console.print(f"thread {session.thread_id}")
                continue
            else:
                console.print("Commands: /image PATH [message], /new, /thread, /quit")
                continue
        try:
            resp = session.turn(text, attachments=pending)
        except (ValueError, UserError) as exc:
            console.print(f"error: {exc}", markup=False)
            continue
        pending = []
        _print_response(resp, settings.currency)


@app.command()
def ask(
    message: Annotated[str, typer.Argument(help="What to ask.")],
    image: Annotated[list[str] | None, typer.Option("--image", help="Attach a photo (repeatable).")] = None,
    thread: Thread = None,
    user: User = None,
    planner: PlannerOpt = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the response as JSON.")] = False,
) -> None:
    """Ask one question (one turn) and print the answer."""
    settings = _settings(data_dir, user, planner)
    for path in image or []:
        if not Path(path).is_file():
            raise UserError(f"{path} is not a file; check the image path.")
    _ensure_catalog(settings, quiet=as_json)
    session = _session(settings, thread, quiet=as_json)
    resp = session.turn(message, attachments=list(image or []))
    if as_json:
        print(json.dumps({"thread": session.thread_id, **resp}, indent=1, default=str))
    else:
        _print_response(resp, settings.currency)
        err.print(f"(thread {session.thread_id})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless API keys are set).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(help="Service processes (more than 1 needs PostgreSQL and a Chroma "
                                              "server).")] = 1,
    planner: PlannerOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the assistant over HTTP: turn API with SSE, media, memory, health, and the web chat at /."""
    import ipaddress

    settings = _settings(data_dir, planner=planner)
    if workers < 1:
        raise UserError(f"--workers {workers}: use 1 or more")
    if workers > 1 and not (settings.postgres_url and settings.chroma_url):
        missing = [n for n, v in (("FASHIONM3_POSTGRES_URL", settings.postgres_url),
                                  ("FASHIONM3_CHROMA_URL", settings.chroma_url)) if not v]
        raise UserError(f"--workers {workers}: several processes need shared storage; set {' and '.join(missing)} "
                        "(PostgreSQL for threads, keys and the turn queue; a Chroma server for the catalog and "
                        "memory). The embedded SQLite/Chroma default runs in one process; for more turns at once "
                        "in it set FASHIONM3_TURN_WORKERS.")
    if settings.busy_policy not in ("enqueue", "reject"):
        raise UserError(f"FASHIONM3_BUSY_POLICY={settings.busy_policy!r}: use enqueue or reject")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not settings.api_key_list and not loopback:
        raise UserError(f"refusing to serve on {host} without API keys: set FASHIONM3_API_KEYS=key1,key2 (clients "
                        "send 'Authorization: Bearer key1'), or bind 127.0.0.1")
    _ensure_catalog(settings)
    import uvicorn

    from agent.serve.app import create_app

    web = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    err.print(f"[bold]FashionM3[/bold] serving on {web}: web chat at {web}/, API at {web}/v1 "
              f"(docs {web}/docs), planner [cyan]{settings.planner}[/cyan] (loading; {web}/readyz says when ready).")
    from agent.channels import channel_status

    for name, missing in channel_status(settings).items():
        err.print(f"channel {name}: " + (f"on at {web}/channels/{name}{'/events' if name == 'slack' else ''}"
                                         if not missing else f"off (set {', '.join(missing)})"))
    if settings.api_key_list:
        err.print(f"{len(settings.api_key_list)} API key(s) accepted (Authorization: Bearer ...).")
    else:
        err.print("No API keys set (FASHIONM3_API_KEYS): serving on loopback only, without auth.")
    if settings.postgres_url:
        err.print("Threads, idempotency keys and the turn queue: PostgreSQL (FASHIONM3_POSTGRES_URL).")
    if workers > 1:
        err.print(f"{workers} service processes share the port, PostgreSQL and the Chroma server.")
        if data_dir:
            os.environ["FASHIONM3_DATA_DIR"] = data_dir
        if planner:
            os.environ["FASHIONM3_PLANNER"] = planner
        uvicorn.run("agent.serve.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level="warning", access_log=False, timeout_graceful_shutdown=5)
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)


@app.command()
def mcp(
    planner: PlannerOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Serve the assistant as an MCP server over stdio (for Claude Desktop, IDEs and other agents).

    Tools: every registered tool, ``chat`` (one assistant turn) and ``forget_user``. Logs go to stderr;
    stdout carries the protocol only.
    """
    settings = _settings(data_dir, planner=planner)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    _ensure_catalog(settings, quiet=True)
    from agent.mcp.server import create_local_server, serve_stdio

    server = create_local_server(settings, planner=_planner(settings, quiet=True))
    serve_stdio(server, ready=lambda: err.print(f"FashionM3 MCP server on stdio (planner {settings.planner}, "
                                                 f"data {settings.data_dir})."))


@tools_app.command("list")
def tools_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every tool: name, source (builtin, an installed package's entry point, registered), description."""
    from tools import discover, tool_problems, tool_sources

    found, sources = discover(), tool_sources()
    rows = [{"name": n, "source": sources.get(n, "?"), "description": cls.description()} for n, cls in found.items()]
    if as_json:
        print(json.dumps({"tools": rows, "problems": tool_problems()}, indent=1))
        return
    table = Table(header_style="bold")
    for col in ("name", "source", "description"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["source"], row["description"])
    console.print(table)
    for problem in tool_problems():
        console.print(f"left out: {problem}", markup=False)


@db_app.command("migrate")
def db_migrate(data_dir: DataDir = None) -> None:
    """Create or update the PostgreSQL tables (turn queue, keys, checkpoints) in FASHIONM3_POSTGRES_URL."""
    from agent.serve.queue_pg import PostgresTurnQueue
    from agent.services import open_checkpointer

    settings = _settings(data_dir)
    if not settings.postgres_url:
        raise UserError("set FASHIONM3_POSTGRES_URL (e.g. postgresql://fashionm3@localhost:5432/fashionm3) first; "
                        "the embedded SQLite default needs no migration")
    queue = PostgresTurnQueue(settings.postgres_url)
    try:
        version = queue.migrate()
        open_checkpointer(settings)
    except Exception as exc:
        raise UserError(f"could not migrate {settings.postgres_url}: {type(exc).__name__}: {exc}") from exc
    finally:
        queue.close()
    console.print(f"PostgreSQL schema at version {version} (turn queue, keys, channel events) and LangGraph "
                  "checkpoint tables ready.", markup=False)


@channels_app.command("simulate")
def channels_simulate(
    platform: Annotated[str, typer.Argument(help="telegram, slack or whatsapp.")],
    chats: Annotated[int, typer.Option(help="Chats talking at once.")] = 1,
    planner: PlannerOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Try a messaging channel locally: a fake platform API and a real service exchange signed traffic.

    Starts a fake Telegram/Slack/WhatsApp API on loopback, starts `fashionm3 serve` pointed at it (on a
    copy of the data folder's catalog), sends a short conversation per chat (help, a search, a follow-up,
    a photo, an unsupported file; one event delivered twice), and prints what the platform received.
    """
    import shutil
    import subprocess
    import tempfile

    import httpx

    from agent.channels import simulate as sim
    from agent.channels.fake import FakePlatform

    if platform not in ("telegram", "slack", "whatsapp"):
        raise UserError(f"unknown platform {platform!r}; use telegram, slack or whatsapp")
    settings = _settings(data_dir, planner=planner)
    _ensure_catalog(settings)
    from agent.services import open_catalog

    catalog = open_catalog(settings)
    boots = next((i for i in catalog.items.values() if i.category == "ankle_boots" and catalog.image_path(i)), None)
    fake = FakePlatform().start()
    photo_id = "photo-1"
    if boots is not None:
        image = catalog.image_path(boots)
        assert image is not None
        fake.files[photo_id] = image.read_bytes()
    with tempfile.TemporaryDirectory(prefix="fashionm3-simulate-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(settings.data_dir, data, ignore=shutil.ignore_patterns(
            "threads.sqlite*", "media", "models", "planner", "fashionm3-store.lock"))
        models = Path(settings.data_dir) / "models"
        if models.is_dir():
            (data / "models").symlink_to(models.resolve())
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **fake.settings_env(), "FASHIONM3_DATA_DIR": str(data),
               "FASHIONM3_PLANNER": settings.planner, "FASHIONM3_PUBLIC_URL": url}
        log_path = Path(tmp) / "serve.log"
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(port)], env=env,
                                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            with err.status(f"Starting the service with the {platform} channel pointed at a fake {platform} API ..."):
                deadline = time.monotonic() + 300
                while True:
                    if proc.poll() is not None:
                        raise UserError(f"the service stopped: {log_path.read_text()[-1500:]}")
                    try:
                        if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise UserError("the service did not become ready in 300 s")
                    time.sleep(0.3)
            console.print(f"service {url}, fake {platform} API {fake.url}", markup=False)
            sent = 0
            for chat in range(1, chats + 1):
                steps = sim.script(platform, 7000 + chat, photo_id)
                for n, (label, payload) in enumerate(steps):
                    route, body, headers = sim.signed(platform, payload)
                    body = body.replace(b"{fake}", fake.url.encode())
                    if platform == "slack":
                        headers = sim.slack_headers(body)
                    if platform == "whatsapp":
                        headers = sim.whatsapp_headers(body)
                    before = len(sim.text_replies(fake, platform))
                    r = httpx.post(url + route, content=body, headers=headers, timeout=30)
                    console.print(f"chat {chat} -> {label!r}: HTTP {r.status_code} {r.text[:80]}", markup=False,
                                  soft_wrap=True)
                    sent += 1
                    if n == 1:  # the platform redelivers this event: nothing new may run
                        r = httpx.post(url + route, content=body, headers=headers, timeout=30)
                        console.print(f"chat {chat} -> {label!r} again (redelivery): HTTP {r.status_code} "
                                      f"{r.text[:80]}", markup=False, soft_wrap=True)
                    deadline = time.monotonic() + 120
                    while len(sim.text_replies(fake, platform)) <= before and time.monotonic() < deadline:
                        time.sleep(0.05)
            time.sleep(1.0)  # photos follow each text reply
            console.print(f"\nWhat {platform} received:", markup=False)
            for call in fake.sent(platform):
                console.print("  " + sim.describe_call(call), markup=False, soft_wrap=True)
            console.print(f"{sent} messages sent (one of them twice), {len(sim.text_replies(fake, platform))} "
                          f"replies, {len(fake.sent(platform))} platform calls in all.", markup=False)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            fake.stop()


@catalog_app.command("build")
def catalog_build(
    per_class: Annotated[int, typer.Option(help="Items per category.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing catalog.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Build the default catalog from Fashion-MNIST (images, metadata, curated outfits, index)."""
    from agent.catalog.manage import build_catalog

    settings = _settings(data_dir)
    report = build_catalog(settings, per_class=per_class, seed=seed, force=force)
    console.print(f"Built {report.items} items and {report.outfits} outfits in {report.catalog_dir} "
                  f"(images {report.seconds_images:.1f} s, index {report.seconds_index:.1f} s).")


@catalog_app.command("ingest")
def catalog_ingest(
    file: Annotated[Path, typer.Argument(help="A shop's export: .csv/.tsv (any of , ; tab), .jsonl or an .xml feed.")],
    fmt: Annotated[str | None, typer.Option("--format", help="shopify, gmc, hm, kaggle-styles or generic "
                                            "(default: detected from the header).")] = None,
    mapping: Annotated[str | None, typer.Option(
        "--map", help="Columns for fields, e.g. title=Name,price=Cost.")] = None,
    map_category: Annotated[list[str] | None, typer.Option(
        "--map-category", help="A product type onto one of our categories, e.g. 'Skirts=dress' (repeatable).")] = None,
    default_stock: Annotated[int | None, typer.Option(
        help="Stock assumed when the file has no stock column (default 1).")] = None,
    default_price: Annotated[float | None, typer.Option(
        help="Price given to every product when the file has no price column (Kaggle styles.csv, H&M).")] = None,
    rate: Annotated[list[str] | None, typer.Option(
        "--rate", help="Convert prices in another currency, e.g. USD=0.92 (catalog currency per unit).")] = None,
    keep_image_urls: Annotated[bool, typer.Option(
        "--keep-image-urls", help="Do not download image URLs; keep them in metadata only.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the summary and the first rows; store nothing.")
                       ] = False,
    data_dir: DataDir = None,
) -> None:
    """Import or update products from a shop's export; the summary says what happened to every row."""
    from agent.catalog.importing import ImportFormatError, parse_mapping
    from agent.catalog.manage import IngestOptions, ingest_file

    settings = _settings(data_dir)
    try:
        cats = {}
        for spec in map_category or []:
            for part in spec.split(","):
                if part.strip():
                    if "=" not in part:
                        raise ImportFormatError(f"--map-category takes TYPE=CATEGORY, not {part!r}")
                    src, dst = (x.strip() for x in part.rsplit("=", 1))
                    from agent.catalog.vocab import normalize_category

                    cats[src.lower()] = normalize_category(dst)
        rates = {}
        for spec in rate or []:
            for part in spec.split(","):
                if part.strip():
                    code, _, value = part.partition("=")
                    rates[code.strip().upper()] = float(value)
        options = IngestOptions(fmt=fmt, column_map=parse_mapping(mapping), category_map=cats,
                                default_stock=default_stock, default_price=default_price, rates=rates,
                                fetch_images=not keep_image_urls,
                                dry_run=dry_run)
        report = ingest_file(settings, file, options=options)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    for line in report.summary(limit=50):
        console.print(line, markup=False)
    if dry_run and report.preview:
        console.print("first rows as they would be stored:", markup=False)
        for row in report.preview:
            console.print(f"  {row}", markup=False)


@catalog_app.command("info")
def catalog_info(data_dir: DataDir = None) -> None:
    """Show what the catalog holds."""
    from agent.catalog.manage import describe

    console.print_json(json.dumps(describe(_settings(data_dir))))


def _stored_facts(settings: Context) -> tuple[Any, tuple[str, ...], list[Any]]:
    from agent.nodes import memory_namespace
    from agent.services import open_store

    store = open_store(settings)
    ns = memory_namespace(settings.user_id)
    hits = sorted(store.search(ns, limit=10_000), key=lambda h: h.updated_at)
    return store, ns, hits


@memory_app.command("show")
def memory_show(
    user: Annotated[str, typer.Option("--user", help="Shopper id.")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
) -> None:
    """List the preference facts stored for a shopper, with the ids `memory forget --fact` takes."""
    settings = _settings(data_dir, user)
    _, _, hits = _stored_facts(settings)
    if as_json:
        print(json.dumps([{"id": h.key, **h.value, "updated_at": h.updated_at.isoformat()} for h in hits], indent=1))
        return
    if not hits:
        console.print(f"Nothing is stored for user {settings.user_id!r}.", markup=False)
        return
    table = Table(header_style="bold")
    for col in ("id", "kind", "polarity", "value", "confidence", "turn", "said", "updated"):
        table.add_column(col, overflow="fold")
    for h in hits:
        v = h.value
        table.add_row(h.key, v.get("kind", ""), v.get("polarity", ""), v.get("value", ""),
                      f"{float(v.get('confidence', 0)):.2f}", str(v.get("source_turn", "")), v.get("text", ""),
                      h.updated_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@memory_app.command("forget")
def memory_forget(
    user: Annotated[str, typer.Option("--user", help="Shopper id.")],
    fact: Annotated[list[str] | None, typer.Option("--fact", help="Fact id to forget (repeatable); "
                                                   "without it, everything about the user is forgotten.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Delete one or more stored facts, or everything stored about a shopper."""
    settings = _settings(data_dir, user)
    store, ns, hits = _stored_facts(settings)
    keys = {h.key for h in hits}
    if fact:
        unknown = [f for f in fact if f not in keys]
        if unknown:
            raise UserError(f"no fact with id {', '.join(unknown)} for user {settings.user_id!r}; "
                            "list them with `fashionm3 memory show --user ...`.")
        targets = list(fact)
    else:
        targets = sorted(keys)
    for key in targets:
        store.delete(ns, key)
    console.print(f"Forgot {len(targets)} fact(s) about {settings.user_id!r}.", markup=False)


@export_app.command("planner")
def export_planner_cmd(
    out: Annotated[Path, typer.Argument(help="Folder to write base/, adapter/ (and merged/) into.")],
    base: Annotated[bool, typer.Option("--base/--no-base", help="Write the float16 base model.")] = True,
    adapter: Annotated[bool, typer.Option("--adapter/--no-adapter", help="Write the LoRA adapter.")] = True,
    merged: Annotated[bool, typer.Option("--merged/--no-merged", help="Write base + adapter merged (float16).")
                      ] = False,
    data_dir: DataDir = None,
) -> None:
    """Export the fine-tuned planner for vLLM (or any OpenAI-compatible engine that loads PEFT LoRA adapters)."""
    from agent.planners.smol.export import export_planner

    settings = _settings(data_dir)
    result = export_planner(out, base=base, adapter=adapter, merged=merged, settings=settings)
    for name, folder in result["parts"].items():
        console.print(f"{name:8s} {folder}")
    console.print(f"written in {result['seconds']:.1f} s. Serve it with:\n  {result['vllm']}\n"
                  "then run the service with FASHIONM3_PLANNER_REMOTE=1 FASHIONM3_PLANNER_URL=http://HOST:8000/v1")


@app.command("eval")
def eval_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(help="YAML files or folders of eval conversations.")] = None,
    planner: Annotated[str | None, typer.Option(
        "--planner", help="Planner, or several separated by commas to compare side by side (rules,smol).")] = None,
    data_dir: DataDir = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON here.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here (a test case per "
                                                                "conversation and planner).")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="A saved --json report to compare with.")] = None,
    fail_on_regression: Annotated[bool, typer.Option(
        "--fail-on-regression", help="Exit 1 when a conversation that passed in --baseline fails now.")] = False,
    tag: Annotated[list[str] | None, typer.Option(
        "--tag", help="Only conversations with this tag (repeatable).")] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="Only conversations whose name contains this.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Conversations run at once, in separate processes.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of anything random (random, NumPy, torch).")] = 0,
    url: Annotated[str | None, typer.Option("--url", help="Run against a deployed `fashionm3 serve` at this URL "
                                                          "instead of in-process.")] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="Bearer key for --url (default: "
                                                                  "$FASHIONM3_EVAL_API_KEY).")] = None,
    schema: Annotated[bool, typer.Option(
        "--schema", help="Print the JSON schema of the YAML format and exit.")] = False,
) -> None:
    """Run scripted eval conversations through the real graph and tools (or a deployed service) and score them."""
    from evals.report import compare, load_baseline, print_comparison, print_reports, reports_to_json, write_junit
    from evals.runner import run_evals
    from evals.spec import schema_json

    if schema:
        print(schema_json())
        return
    if not paths:
        raise UserError("give the YAML files or folders to run, e.g. `fashionm3 eval evals/conversations`")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: use 1 or more")
    names = [p.strip() for p in (planner or "").split(",") if p.strip()]
    settings = _settings(data_dir, planner=names[0] if names else None)
    if url and names:
        raise UserError("--url runs the deployed service's own planner; drop --planner")
    previous = load_baseline(baseline) if baseline else None
    if not url:
        from agent.planners import available_planners

        unknown = [n for n in names if n.lower() not in available_planners()]
        if unknown:
            raise UserError(f"unknown planner {unknown[0]!r}; known planners: {', '.join(available_planners())}")
        _ensure_catalog(settings)
    done = [0]

    def progress(case: Any) -> None:
        done[0] += 1
        err.print(f"  [{done[0]}] {case.planner or 'service'}: {case.name} {'ok' if case.passed else 'FAIL'}",
                  markup=False, style="dim")

    reports = run_evals(paths, settings, names or None, jobs=jobs, url=url or "",
                        api_key=api_key or os.environ.get("FASHIONM3_EVAL_API_KEY", ""), tags=tag, keyword=keyword,
                        seed=seed, progress=progress)
    print_reports(reports, console)
    if json_out:
        json_out.write_text(json.dumps(reports_to_json(reports), indent=1, default=str) + "\n")
    if junit:
        write_junit(reports, junit)
    if baseline and previous is not None:
        cmp = compare(reports, previous)
        print_comparison(cmp, baseline, console)
        if fail_on_regression and cmp.regressions:
            sys.exit(1)


#: The entry-point group packages use to add commands to ``fashionm3``
#: (``[project.entry-points."fashionm3.commands"]``): a Typer app becomes a command group
#: (``train = "training.cli:train_app"``), a function a command.
COMMANDS_GROUP = "fashionm3.commands"


def _command_names(target: typer.Typer) -> set[str]:
    names = {g.name for g in target.registered_groups if g.name}
    for c in target.registered_commands:
        callback_name = getattr(c.callback, "__name__", "")
        names.add(c.name or callback_name.replace("_", "-"))
    return names


def add_plugin_commands(target: typer.Typer, group: str = COMMANDS_GROUP) -> list[str]:
    """Add the commands installed packages declare under the ``group`` entry points to ``target``.

    An entry naming a :class:`typer.Typer` is added as a command group, a function as a command, each
    under the entry point's name. An entry that fails to load, names something else, cannot be built
    into a command, or takes a name already in use is left out with a warning on stderr: a broken
    plug-in never stops the command line. Returns the problems.
    """
    import inspect
    from importlib.metadata import entry_points

    problems: list[str] = []
    added: dict[str, str] = {}
    taken = _command_names(target)
    for ep in entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "?"
        where = f"{ep.name} = {ep.value} ({dist})"
        if added.get(ep.name) == ep.value:
            continue  # the same command declared twice (e.g. two metadata folders of one package)
        if ep.name in taken or ep.name in added:
            problems.append(f"command plug-in {where} left out: the command name {ep.name!r} is taken")
            continue
        try:
            obj = ep.load()
            probe = typer.Typer()
            if isinstance(obj, typer.Typer):
                probe.add_typer(obj, name=ep.name)
            elif inspect.isfunction(obj):
                probe.command(ep.name)(obj)
            else:
                raise TypeError(f"{type(obj).__name__} is neither a Typer app nor a function")
            typer.main.get_command(probe)  # build it now: a bad signature fails here, not at every run
        except Exception as exc:  # a plug-in must not take the command line down: say why it is missing
            problems.append(f"command plug-in {where} left out: {type(exc).__name__}: {exc}")
            continue
        if isinstance(obj, typer.Typer):
            target.add_typer(obj, name=ep.name)
        else:
            target.command(ep.name)(obj)
        added[ep.name] = ep.value
    for problem in problems:
        err.print(f"warning: {problem}", markup=False)
    return problems


add_plugin_commands(app)


def main() -> None:
    """Entry point: run the app, turning user errors into one clear line."""
    logging.basicConfig(level=os.environ.get("FASHIONM3_LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from pydantic import ValidationError

    from agent.catalog.fmnist import DatasetMissingError
    from agent.catalog.store import CatalogError
    from agent.media import ImageInputError
    from agent.planners.openai_backend import PlannerServerError

    try:
        app(standalone_mode=False)
    except (UserError, CatalogError, DatasetMissingError, ImageInputError, FileNotFoundError, FileExistsError,
            ValueError, ValidationError, PlannerServerError) as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
