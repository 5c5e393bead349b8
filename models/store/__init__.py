"""Tables, schema creation and migration, the engine factory, and the dialect-specific SQL pieces."""
