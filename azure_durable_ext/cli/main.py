"""``durable-ext``: the command-line entry point. A thin group; each subcommand lives in its
own module and registers itself here."""
from __future__ import annotations

import logging

import click

from .console_log import console_handler
from .replay_check import replay_check
from .sidecar_command import sidecar
from .start_command import start


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Durable Functions tooling: a local sidecar, starters and checks."""
    configure_logging(verbose)


#: The Azure SDK logs every storage request and response (headers included) at INFO:
#: four records and ~2 KB per started instance, about a tenth of the sidecar's CPU per start.
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def configure_logging(verbose: int) -> None:
    """-v: our INFO records (the SDK's per-request records only from -vv on); -vv: DEBUG."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, handlers=[console_handler()])
    logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.WARNING if verbose < 2 else logging.NOTSET)


main.add_command(sidecar)
main.add_command(replay_check)
main.add_command(start)

if __name__ == "__main__":  # pragma: no cover - `python -m azure_durable_ext.cli.main`
    main()
