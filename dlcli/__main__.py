"""`python -m dlcli` runs the command-line interface."""

from dlcli.cli.app import main

main()
