"""dlcli: deep-learning basics from the shell.

The package root stays import-light on purpose: the calculators (`featsize`, `receptive-field`)
are used in tight shell loops, so nothing here may pull in torch, numpy or gensim.
"""

__version__ = "0.1.0"
