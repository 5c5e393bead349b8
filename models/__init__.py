"""The database: tables and engine, the ingest path, detection, and the query layer where all SQL lives."""
