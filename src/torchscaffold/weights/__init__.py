"""Checkpoints and the classes they load into: the parts of ``torchgen convert``.

``match`` is pure Python (lists of key, shape, dtype): it decides where every tensor goes.
``checkpoint`` reads and unwraps a file, ``target`` imports and builds a class, ``inputs`` finds
the input a class takes, ``compare`` runs the ``--check``: those import torch, and only when a
command body calls them (``torchgen --help`` stays torch-free).
"""
