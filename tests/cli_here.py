"""`python -m fuzz ...` run inside the test process: the same parser and command functions,
with stdout and stderr captured, minus a second torch import (seconds on a small CI box).
For the commands a test only reads (replay, minimise, show, list); a test of the process itself (exit
on a signal, start-up, usage errors at the door) still runs it as a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys


def fuzz_here(*args: object) -> subprocess.CompletedProcess:
    """What `python -m fuzz *args` prints and returns, run in this process (cli.main less
    its signal handlers, which belong to pytest here)."""
    from fuzz import commands
    from fuzz.cli import UsageError, build_parser
    from fuzz.report import EXIT_USAGE

    argv = [str(a) for a in args]
    handlers = {
        "replay": commands.cmd_replay,
        "minimise": commands.cmd_minimise,
        "list": commands.cmd_list,
        "show": commands.cmd_show,
    }
    if argv[0] not in handlers:  # a campaign arms signal handlers: a subprocess's business
        raise ValueError(f"fuzz_here runs {', '.join(handlers)}, not {argv[0]!r}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            parsed = build_parser().parse_args(argv)
        except SystemExit as exc:  # argparse: 2 for a bad flag
            code = int(exc.code or 0)
        else:
            try:
                code = handlers[parsed.command](parsed)
            except UsageError as exc:
                print(f"error: {exc}", file=sys.stderr)
                code = EXIT_USAGE
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
