"""``torchgen model --from MODULE:CALLABLE``: a built nn.Module lifted into a description.

trace (torch.fx, one instance at a time) -> lift (a draft of each instance's class) -> classes
(the instances of one class merged into a block class) -> model (the description). Imports torch.
"""
