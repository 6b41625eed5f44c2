"""How the CLI meets its user: settings (flags, environment, config file), argument parsing,
did-you-mean suggestions and terminal output."""
