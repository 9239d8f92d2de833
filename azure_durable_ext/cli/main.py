"""``durable-ext``: the command-line entry point. A thin group; each subcommand lives in its
own module and registers itself here."""
from __future__ import annotations

import logging

import click

from .replay_check import replay_check
from .sidecar_command import sidecar
from .start_command import start


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Durable Functions tooling: a local sidecar, starters and checks."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


main.add_command(sidecar)
main.add_command(replay_check)
main.add_command(start)

if __name__ == "__main__":  # pragma: no cover - `python -m azure_durable_ext.cli.main`
    main()
