"""The engine: discovery, configuration, rule runs, suppression and fixes."""
