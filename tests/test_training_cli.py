"""The training commands (``training.cli``), and how they reach ``fashionm3``: ``fashionm3.commands`` entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import typer
from fake_dist import write_distribution
from typer.testing import CliRunner

from training import cli as training_cli

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
runner = CliRunner()


def test_pyproject_declares_the_training_commands_and_ships_the_package() -> None:
    table = PYPROJECT["project"]["entry-points"]["fashionm3.commands"]
    assert table == training_cli.COMMANDS == {
        "train": "training.cli:train_app", "data": "training.cli:data_app",
        "eval-planner": "training.cli:eval_planner"}
    for value in table.values():
        module, _, attr = value.partition(":")
        assert module == "training.cli" and hasattr(training_cli, attr), value
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert "training*" in setuptools["packages"]["find"]["include"]
    shipped = setuptools["package-data"]["training.planner"]
    assert shipped == ["families/*.yaml"]
    assert sorted(p.name for p in (ROOT / "training/planner").glob(shipped[0])) == [
        "extra_families.yaml", "families.yaml"]
    assert "training" in PYPROJECT["tool"]["mypy"]["files"]
    assert "training" in (ROOT / "Makefile").read_text().split("ruff check", 1)[1].splitlines()[0].split()


def test_installed_metadata_declares_the_commands() -> None:
    installed = {ep.name: ep.value for ep in entry_points(group="fashionm3.commands")}
    if not installed:
        pytest.skip("the installed fashionm3 predates the fashionm3.commands entry points: `pip install -e .` "
                    "(the other tests put a stand-in distribution on the path)")
    assert installed == training_cli.COMMANDS


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A command line holding the training commands the way ``fashionm3`` adds them (groups and a command)."""
    app = typer.Typer()
    app.add_typer(training_cli.train_app, name="train")
    app.add_typer(training_cli.data_app, name="data")
    app.command("eval-planner")(training_cli.eval_planner)
    return app


def test_train_and_data_pass_their_options_to_the_training_scripts(app: typer.Typer) -> None:
    out = runner.invoke(app, ["train", "--help"])
    assert out.exit_code == 0
    for name in ("image-encoder", "image-classifier", "generator", "planner"):
        assert name in out.output
    planner = runner.invoke(app, ["train", "planner", "--help"])
    assert planner.exit_code == 0 and "--image-route" in planner.output and "--projector-only" in planner.output
    for name, flag in [("image-encoder", "--aux-weight"), ("image-classifier", "--members"),
                       ("generator", "--cond-drop")]:
        script = runner.invoke(app, ["train", name, "--help"])
        assert script.exit_code == 0 and flag in script.output, name
    build = runner.invoke(app, ["data", "build-planner", "--help"])
    assert build.exit_code == 0 and "--extra" in build.output and "fashionm3 data build-planner" in build.output
    bad = runner.invoke(app, ["data", "build-planner", "--n", "0"])
    assert bad.exit_code == 2 and "--n must be at least 1" in bad.output


def test_data_build_planner_returns_the_scripts_exit_code(app: typer.Typer, tmp_path: Path) -> None:
    empty = tmp_path / "data"  # no catalog: the builder says so and returns 2
    out = runner.invoke(app, ["data", "build-planner", "--data-dir", str(empty), "--out", str(tmp_path / "planner"),
                              "--quiet"])
    assert out.exit_code == 2 and "No catalog" in out.output
    assert not (tmp_path / "planner").exists()


def test_eval_planner_refuses_bad_input_with_a_user_error(app: typer.Typer, tmp_path: Path) -> None:
    from agent.errors import UserError

    out = runner.invoke(app, ["eval-planner", "--help"])
    assert out.exit_code == 0 and "--photo-only" in out.output and "--planner" in out.output
    bad_split = runner.invoke(app, ["eval-planner", "--split", "dev", "--data", str(tmp_path)])
    assert isinstance(bad_split.exception, UserError) and "unknown split 'dev'" in str(bad_split.exception)
    missing = runner.invoke(app, ["eval-planner", "--data", str(tmp_path)])
    assert isinstance(missing.exception, UserError) and "fashionm3 data build-planner" in str(missing.exception)


def test_importing_the_training_commands_stays_light() -> None:
    code = ("import sys, training.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'peft') "
            "or (m.startswith('training.') and m != 'training.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------------
# the entry-point mechanism of agent.cli
# ---------------------------------------------------------------------------------------------------

PLUGIN = '''
import typer

extra_app = typer.Typer(no_args_is_help=True, help="Extra things.")


@extra_app.command("hello")
def hello(name: str = "you") -> None:
    """Say hello."""
    print(f"hello {name}")


def shout(word: str) -> None:
    """Shout a word."""
    print(word.upper())


def bad_signature(thing: int | str) -> None:
    """Typer cannot read a union-typed argument."""


NOT_A_COMMAND = 42


def broken():
    raise RuntimeError("never loads")
'''


@pytest.fixture()
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution declaring commands (good and broken ones), as pip lays one out, on sys.path."""
    site = tmp_path / "site"
    write_distribution(site, "fm3-extra-commands", {"fashionm3.commands": {
        "extra": "fm3_extra_commands:extra_app", "shout": "fm3_extra_commands:shout",
        "missing": "fm3_extra_commands:nowhere", "broken-module": "fm3_no_such_module:app",
        "number": "fm3_extra_commands:NOT_A_COMMAND", "bad-signature": "fm3_extra_commands:bad_signature",
        "chat": "fm3_extra_commands:shout"}}, modules={"fm3_extra_commands": PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("fm3_extra_commands", None)


def test_plugin_commands_are_added_and_broken_ones_only_warned_about(
        plugin_site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import add_plugin_commands

    app = typer.Typer()

    @app.command("chat")
    def chat() -> None:
        """A built-in command."""

    problems = add_plugin_commands(app)
    warnings = capsys.readouterr().err
    for name, why in [("missing", "AttributeError"), ("broken-module", "ModuleNotFoundError"),
                      ("number", "neither a Typer app nor a function"), ("bad-signature", "support Union types"),
                      ("chat", "the command name 'chat' is taken")]:
        assert any(p.startswith(f"command plug-in {name} = ") and why in p and "(fm3-extra-commands)" in p
                   for p in problems), (name, problems)
        assert f"warning: command plug-in {name} = " in warnings
    assert len(problems) == 5
    assert runner.invoke(app, ["extra", "hello", "--name", "Ada"]).output == "hello Ada\n"
    assert runner.invoke(app, ["shout", "hi"]).output == "HI\n"
    assert runner.invoke(app, ["chat"]).exit_code == 0  # the built-in one stays


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **env}, cwd=ROOT)


def test_fashionm3_gets_the_training_commands_from_the_entry_points(commands_env: dict[str, str],
                                                                    plugin_site: Path) -> None:
    out = _cli(["--help"], commands_env)
    assert out.returncode == 0, out.stderr
    for name in ("train", "data", "eval-planner", "catalog", "chat"):
        assert f" {name} " in out.stdout, name
    assert "warning" not in out.stderr
    planner = _cli(["train", "planner", "--help"], commands_env)
    assert planner.returncode == 0 and "--image-route" in planner.stdout
    bad = _cli(["eval-planner", "--split", "dev"], commands_env)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        "error: unknown split 'dev'; use train, valid or test"), bad.stderr
    # a broken plug-in next to them: a warning, and the command line still works
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_site), commands_env["PYTHONPATH"]])}
    out = _cli(["--help"], env)
    assert out.returncode == 0 and " train " in out.stdout and " shout " in out.stdout
    assert "warning: command plug-in broken-module = fm3_no_such_module:app (fm3-extra-commands) left out: " \
           "ModuleNotFoundError" in out.stderr


def test_the_command_line_with_its_plugins_does_not_import_torch(commands_env: dict[str, str]) -> None:
    code = ("import sys, agent.cli; assert 'train' in agent.cli._command_names(agent.cli.app); "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, **commands_env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
