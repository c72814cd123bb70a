"""The ``skewless`` command line.

>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["--help"])
>>> result.exit_code
0
"""

from pathlib import Path
from typing import Annotated

import typer

from skewless.cli import audit as audit_command
from skewless.cli import browse, init, materialize, plan_apply, quickstart, registry_commands, serve
from skewless.cli import datasets as datasets_commands
from skewless.cli import experiments as experiments_commands
from skewless.cli import gate as gate_command
from skewless.cli import ingest as ingest_commands
from skewless.cli import lineage as lineage_command
from skewless.cli import logs as logs_command
from skewless.cli import models as models_commands
from skewless.cli import monitor as monitor_command
from skewless.cli import pipelines as pipelines_commands
from skewless.cli import predict_batch as predict_batch_command
from skewless.cli import ui as ui_command
from skewless.cli._context import CliState, setup_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="skewless",
    help="skewless: define features once, train leak-free, serve the latest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from skewless._version import __version__

        typer.echo(f"skewless {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    repo: Annotated[
        Path,
        typer.Option(
            "--repo",
            "-r",
            help="The repository: the directory holding feature_store.yaml.",
            file_okay=False,
        ),
    ] = Path("."),
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_show_version, is_eager=True
        ),
    ] = False,
) -> None:
    ctx.obj = CliState(repo=repo, debug=debug)
    setup_logging(debug)


app.command("init")(init.init)
app.command("plan")(plan_apply.plan)
app.command("apply")(plan_apply.apply)
app.command("list")(browse.list_objects)
app.command("describe")(browse.describe)
app.command("search")(browse.search)
app.command("materialize")(materialize.materialize)
app.command("materialize-incremental")(materialize.materialize_incremental)
app.command("quickstart")(quickstart.quickstart)
app.command("serve")(serve.serve)
app.command("compact")(ingest_commands.compact)
app.command("ingest")(ingest_commands.ingest)
app.command("audit")(audit_command.audit)
app.add_typer(datasets_commands.app, name="datasets")
app.add_typer(models_commands.app, name="models")
app.add_typer(pipelines_commands.app, name="pipelines")
app.command("gate")(gate_command.gate)
app.add_typer(experiments_commands.app, name="experiments")
app.command("logs")(logs_command.logs)
app.command("monitor")(monitor_command.monitor)
app.command("predict-batch")(predict_batch_command.predict_batch)
app.command("ui")(ui_command.ui)
app.command("lineage")(lineage_command.lineage)
app.command("teardown")(registry_commands.teardown)
app.command("registry-dump")(registry_commands.registry_dump)
for _listing, _kind in zip(browse.Listing, browse.DescribeKind, strict=True):
    app.add_typer(registry_commands.kind_app(_listing, _kind), name=_listing.value)


def main() -> None:
    """Entry point of the ``skewless`` console script."""
    app(prog_name="skewless")


if __name__ == "__main__":
    main()
