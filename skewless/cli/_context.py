"""What every command shares: global options, the error contract, output and logging.

The error contract: a :class:`~skewless.errors.SkewlessError` (or a YAML/pydantic error that
escaped the configuration loader) prints one line ``error: <message>`` to stderr and exits 1;
any other exception prints one line too, with a hint to re-run with ``--debug``, which
prints the traceback as well. Typer's own usage errors keep their exit code 2.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from skewless.errors import SkewlessError

if TYPE_CHECKING:
    from skewless.store import FeatureStore

__all__ = [
    "CliState",
    "cannot_run",
    "console",
    "fail",
    "guarded",
    "one_line",
    "open_store",
    "repo_dir",
    "setup_logging",
    "state_of",
    "status",
]

F = TypeVar("F", bound=Callable[..., Any])

# Usage errors raised by the command-line parser itself (exit code 2) pass through untouched;
# the class is found through a public one so that any Typer release works.
_USAGE_ERROR: type[BaseException] = next(
    (c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"), typer.BadParameter
)
_PASS_THROUGH: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, _USAGE_ERROR)


@dataclass(frozen=True)
class CliState:
    """The global options: ``--repo`` and ``--debug``."""

    repo: Path = Path(".")
    debug: bool = False


def state_of(ctx: typer.Context | None) -> CliState:
    """The global options of the running command (defaults outside a command)."""
    obj = getattr(ctx, "obj", None)  # a sub-command's context inherits its parent's obj
    return obj if isinstance(obj, CliState) else CliState()


def repo_dir(ctx: typer.Context, path: str | Path | None = None) -> Path:
    """``path`` resolved against ``--repo`` (the repository itself when ``path`` is None)."""
    base = state_of(ctx).repo.expanduser()
    if path is None:
        return base.resolve()
    p = Path(path).expanduser()
    return p.resolve() if p.is_absolute() else (base / p).resolve()


@contextmanager
def open_store(ctx: typer.Context) -> Iterator[FeatureStore]:
    """The repository's :class:`~skewless.store.FeatureStore`, closed afterwards."""
    from skewless.store import FeatureStore

    store = FeatureStore(repo_path=repo_dir(ctx))
    try:
        yield store
    finally:
        store.close()


def console() -> Console:
    """Console on stdout. Off a terminal, tables may be 160 columns wide rather than 80."""
    interactive = sys.stdout.isatty()
    return Console(
        file=sys.stdout,
        highlight=False,
        soft_wrap=True,
        width=None if interactive else 160,
    )


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while a step runs, on a terminal only."""
    if not sys.stderr.isatty():
        yield
        return
    with Console(file=sys.stderr).status(message):
        yield


def one_line(text: str) -> str:
    """A message on one line: its lines joined with spaces."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _echo_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 1."""
    _echo_err(f"error: {one_line(message)}")
    raise typer.Exit(1)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, SkewlessError):
        return True
    import pydantic
    import yaml

    return isinstance(exc, yaml.YAMLError | pydantic.ValidationError)


def report_error(exc: BaseException, debug: bool) -> None:
    """The one-line report of ``exc`` (after its traceback, with ``--debug``)."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = one_line(str(exc)) or type(exc).__name__
    if _is_user_error(exc):
        _echo_err(f"error: {message}")
    elif debug:
        _echo_err(f"error: unexpected {type(exc).__name__}: {message}")
    else:
        _echo_err(
            f"error: unexpected {type(exc).__name__}: {message} "
            "(re-run with --debug to see the traceback)"
        )


def guarded(command: F) -> F:
    """Apply the error contract to a command whose parameters include ``ctx``."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with cannot_run(kwargs.get("ctx"), code=1):
            return command(*args, **kwargs)

    return run  # type: ignore[return-value]


@contextmanager
def cannot_run(ctx: typer.Context | None, code: int = 1) -> Iterator[None]:
    """The error contract around a block: a failure prints one line (the traceback too with
    ``--debug``) and exits ``code`` (2 for the commands that judge, as ``skewless gate``);
    Ctrl-C exits 130; Typer's own exits pass through."""
    try:
        yield
    except _PASS_THROUGH:
        raise
    except KeyboardInterrupt:
        _echo_err("error: interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        report_error(exc, state_of(ctx).debug)
        raise typer.Exit(code) from None


class _LineFormatter(logging.Formatter):
    """``warning: message`` (the logger's name too, with ``--debug``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.levelno < logging.INFO:
            text += f" [{record.name}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it per invocation)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


def setup_logging(debug: bool) -> None:
    """Warnings of skewless to stderr as ``warning: ...``; everything with ``--debug``."""
    logger = logging.getLogger("skewless")
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(_LineFormatter())
        logger.addHandler(handler)
    # The logger's own level is left alone unless --debug asks for more, so that the
    # embedding process (and its log capture) keeps control of it.
    logger.setLevel(logging.DEBUG if debug else logging.NOTSET)
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
