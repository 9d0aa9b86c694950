"""Subcommands of ``indexer`` that live beside the modules they drive; each has ``register(sub)``."""
