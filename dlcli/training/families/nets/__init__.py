"""The families' torch networks, as nn.Module classes (these modules import torch at their top).

A family file stays pure Python, so that `dlcli train --help` and `import dlcli` never load
torch; where its network is a class of its own, the class lives here and the family's builder
imports it on first use. A network here reads its config through a small Protocol and imports
nothing of `dlcli.training.families`.
"""
