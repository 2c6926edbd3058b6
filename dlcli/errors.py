"""The errors backends raise; the CLI turns each into one line on stderr and an exit status.

Backends never print and never exit: they raise `InputError` for anything the user can fix by
changing the command line or the input files (exit status 2), and `RunFailure` for a failure at
run time (exit status 1).
"""


class DlcliError(Exception):
    """Base of dlcli's own errors; `exit_code` is the process exit status it maps to."""

    exit_code = 1


class InputError(DlcliError, ValueError):
    """A bad value on the command line or in an input file (usage error, exit status 2)."""

    exit_code = 2


class RunFailure(DlcliError, RuntimeError):
    """Something failed while running a valid request (exit status 1)."""

    exit_code = 1
