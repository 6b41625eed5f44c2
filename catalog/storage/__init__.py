"""The catalogue's database: engine, schema and migrations, rows, listings, runs, probe memory and
the store that ties them together."""
