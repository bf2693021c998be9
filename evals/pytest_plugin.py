"""``pytest --fashionm3-evals PATH``: every eval conversation under PATH becomes a test (per planner).

Registered as a pytest plugin (the ``pytest11`` entry point ``fashionm3_evals``), so a team's CI can
run the scripted conversations next to its unit tests and see each one as a test case:

    pytest --fashionm3-evals evals/conversations [--fashionm3-planner rules,smol] [--fashionm3-url URL]

The conversations run in-process against the catalog in ``FASHIONM3_DATA_DIR`` (built when missing),
or through a deployed service with ``--fashionm3-url``. A failing test lists every failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

OPTION = "--fashionm3-evals"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--fashionm3-*`` options."""
    group = parser.getgroup("fashionm3", "FashionM3 eval conversations")
    group.addoption(OPTION, action="append", default=[], metavar="PATH",
                    help="Run the eval conversations under PATH as tests (repeatable).")
    group.addoption("--fashionm3-planner", default="", metavar="NAMES",
                    help="Planner(s), comma-separated (default: FASHIONM3_PLANNER, else smol).")
    group.addoption("--fashionm3-url", default="", metavar="URL",
                    help="Run the conversations against a deployed `fashionm3 serve` instead.")
    group.addoption("--fashionm3-api-key", default="", metavar="KEY", help="Bearer key for --fashionm3-url.")


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Make each ``--fashionm3-evals PATH`` a path to collect, so the option alone selects the conversations."""
    for n, arg in enumerate(list(args)):
        if arg == OPTION and n + 1 < len(args):
            args.append(args[n + 1])
        elif arg.startswith(OPTION + "="):
            args.append(arg.split("=", 1)[1])


def _eval_roots(config: pytest.Config) -> list[Path]:
    return [Path(p).resolve() for p in config.getoption(OPTION) or []]


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    """Collect a YAML file under an ``--fashionm3-evals`` path as its conversation."""
    roots = _eval_roots(parent.config)
    if file_path.suffix not in (".yaml", ".yml") or not roots:
        return None
    resolved = file_path.resolve()
    if not any(resolved == r or r in resolved.parents for r in roots):
        return None
    return EvalFile.from_parent(parent, path=file_path)


class EvalFile(pytest.File):
    """One conversation file: one test per planner."""

    def collect(self) -> Any:
        """Validate the file (a malformed one fails collection with file, turn and key) and yield its tests."""
        from evals.spec import load_conversations

        [(path, conv)] = load_conversations([self.path])
        url = self.config.getoption("--fashionm3-url")
        names = [url] if url else _planners(self.config)
        for name in names:
            yield EvalItem.from_parent(self, name=f"{conv.name}[{'service' if url else name}]", conv=conv,
                                       conv_path=path, planner=name)


class EvalFailedError(Exception):
    """A conversation failed some checks."""


class EvalItem(pytest.Item):
    """One conversation with one planner (or against one deployed service)."""

    def __init__(self, *, conv: Any, conv_path: Path, planner: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.conv, self.conv_path, self.planner = conv, conv_path, planner

    def runtest(self) -> None:
        """Run the conversation and fail with its failed checks."""
        from evals.runner import run_conversation

        target = _target(self.config, self.planner)
        result = run_conversation(self.conv_path, self.conv, target, _run_id(self.config),
                                  planner="" if self.config.getoption("--fashionm3-url") else self.planner)
        if not result.passed:
            raise EvalFailedError("\n".join(result.failures()))

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        """Show the failed checks, not a traceback."""
        if isinstance(excinfo.value, EvalFailedError):
            return f"{self.conv.name} ({self.conv_path.name}) failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Name the YAML file in reports."""
        return self.conv_path, 0, self.name


def _planners(config: pytest.Config) -> list[str]:
    from agent.context import Context

    raw = config.getoption("--fashionm3-planner") or Context.from_env().planner
    return [p.strip() for p in raw.split(",") if p.strip()]


def _run_id(config: pytest.Config) -> str:
    import uuid

    cache = config.stash.setdefault(_STATE, {})
    return str(cache.setdefault("run_id", uuid.uuid4().hex[:8]))


def _target(config: pytest.Config, planner: str) -> Any:
    """Return the session's target of a planner (or the service): the eval runner's own worker set-up."""
    from agent.context import Context
    from evals import runner

    cache = config.stash.setdefault(_STATE, {})
    url = config.getoption("--fashionm3-url")
    if "ready" not in cache:
        settings = Context.from_env()
        if not url:
            from agent.catalog.manage import build_catalog, is_built

            if not is_built(settings):
                build_catalog(settings, progress=False)
        runner._worker_init(settings, seed=0)
        cache["ready"] = True
    return runner._worker_target("" if url else planner, url, config.getoption("--fashionm3-api-key"))


_STATE = pytest.StashKey[dict[str, Any]]()
