"""Every command of the ``catalog`` CLI explains itself: a help line per command and option."""

from __future__ import annotations

import click
from click.testing import CliRunner

from recocatalog.cli import main


def _commands(cmd: click.Command, path: tuple[str, ...] = ("catalog",)):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))


def test_every_command_and_option_has_help():
    missing = []
    for path, cmd in _commands(main):
        if not (cmd.help or cmd.short_help):
            missing.append(" ".join(path))
        missing += [f"{' '.join(path)} {p.opts[0]}" for p in cmd.params
                    if isinstance(p, click.Option) and not p.help]
    assert missing == []


def test_help_of_a_nested_command_prints_its_options():
    names = {p[1:] for p, _ in _commands(main) if len(p) == 3}
    assert ("ranker", "score") in names and ("pipeline", "run") in names
    result = CliRunner().invoke(main, ["ranker", "score", "--help"])
    assert result.exit_code == 0
    assert "--top-k" in result.output and "How many items each user" in result.output
