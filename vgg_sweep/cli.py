"""The `vgg-sweep` command line.

Each subcommand lives next to the code it drives and is imported only when invoked, so
`vgg-sweep report` never pays for importing torch and `--help` answers at once.

User mistakes (a bad value, a missing file) end with one line on stderr, naming the problem
and the fix, and exit code 2: never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from vgg_sweep.errors import UserError

# name -> "module:attribute" of a click command.
COMMANDS = {
    "train": "vgg_sweep.train_command:train",
    "validate": "vgg_sweep.engine.commands:validate",
    "sweep": "vgg_sweep.engine.commands:sweep",
    "preflight": "vgg_sweep.preflight:preflight",
    "agent": "vgg_sweep.engine.commands:agent",
    "dashboard": "vgg_sweep.engine.dashboard:dashboard",
    "report": "analysis.commands:report",
    "export": "analysis.commands:export",
    "stats": "analysis.commands:stats",
    "rerun-best": "vgg_sweep.rerun_command:rerun_best",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vgg-sweep")
def cli():
    """Find, explain and reproduce the best training configuration of a CNN."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit code 2."""
    try:
        # Without standalone mode click returns a command's `Exit(code)` instead of raising
        # it: that return value is the exit status (1 for a failed trial).
        code = cli.main(args=argv, prog_name="vgg-sweep", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("vgg-sweep: interrupted", err=True)
        return 130
    except click.ClickException as error:
        click.echo(f"vgg-sweep: error: {_one_line(error.format_message())}", err=True)
        return 2
    except UserError as error:
        click.echo(f"vgg-sweep: error: {_one_line(str(error))}", err=True)
        return 2
    except click.exceptions.Exit as done:
        return done.exit_code
    return code if isinstance(code, int) else 0


def _one_line(message: str) -> str:
    """A message quoting another error (a parser's, a driver's) may span lines: join them."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
