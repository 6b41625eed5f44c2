"""One module per CLI command; ``meshatlas.cli`` imports a command's module only when it runs."""
