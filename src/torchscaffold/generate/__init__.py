"""One orchestrator per command, each reading as the steps of its pipeline in order:
``model``, ``dataset``, ``registry``, ``scaffold`` (``torchgen new``), and ``in_project`` (where
``model`` and ``dataset`` write inside a scaffolded project)."""
