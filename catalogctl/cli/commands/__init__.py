"""One module per CLI command, imported lazily by catalogctl.cli.main."""
