"""pivotrec core: records, config, registry, stages, runner and CLI."""

__version__ = "0.1.0"
