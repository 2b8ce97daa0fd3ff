"""``%symphony``: inspect the session's Pit from a notebook cell.

Each subcommand is a thin call into the Python API, so everything here is also scriptable.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from symphony_kernel.extension import get_pit


def events_frame(limit: int) -> Any:
    """Drain up to ``limit`` events of the session's Pit into a pandas DataFrame."""
    import pandas as pd

    rows = [event.to_dict() for event in get_pit().poll_events(limit)]
    return pd.DataFrame(rows, columns=["seq", "time", "component", "kind", "subject", "data"])


@magics_class
class SymphonyMagics(Magics):
    """The ``%symphony`` line magic."""

    @magic_arguments()
    @argument("command", choices=["status", "events", "info"], help="what to show")
    @argument("-n", "--limit", type=int, default=100, help="most events to show (events)")
    @line_magic
    def symphony(self, line: str) -> Any:
        """Show the Pit (``status``), drain its events into a table (``events``) or describe the
        installation (``info``)."""
        args = parse_argstring(self.symphony, line)
        if args.command == "status":
            return get_pit()
        if args.command == "events":
            return events_frame(args.limit)
        from symphony_pit import system_info

        return system_info()
