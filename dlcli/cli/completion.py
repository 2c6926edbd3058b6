"""`dlcli completion bash|zsh|fish`: print the shell's completion script.

Typer's own `--install-completion` edits the user's shell start-up files and adds two options to
every invocation; dlcli prints the script instead, for the user to source or install where their
shell looks (the README shows both), and answers completion requests through Typer's machinery
(`_DLCLI_COMPLETE` in the environment, see `dlcli.cli.app.main`).
"""

from __future__ import annotations

from typing import Annotated

import click
import typer

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_DLCLI_COMPLETE"


def completion(
    shell: Annotated[
        str,
        typer.Argument(
            metavar="SHELL",
            help="bash, zsh or fish.",
            click_type=click.Choice(SHELLS, case_sensitive=False),
            show_default=False,
        ),
    ],
) -> None:
    """Print the shell completion script for dlcli.

    \b
    Examples:
      eval "$(dlcli completion bash)"               # this shell (or in ~/.bashrc)
      dlcli completion zsh > "${fpath[1]}/_dlcli"          # zsh, for good
      dlcli completion fish > ~/.config/fish/completions/dlcli.fish
    """
    from typer._completion_shared import get_completion_script

    print(get_completion_script(prog_name="dlcli", complete_var=COMPLETE_VAR, shell=shell))
