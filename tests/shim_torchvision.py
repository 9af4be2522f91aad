"""A pytest plugin for the suites of generated projects that read images (``-p
shim_torchvision``): the index's torchvision, built for another torch, imports here only after
``reference`` declares its two detection ops (see ``reference._torchvision``)."""

from reference import _torchvision

_torchvision()
