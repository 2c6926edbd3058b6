"""The command-line layer: Typer apps that parse, call one backend function, and render."""
