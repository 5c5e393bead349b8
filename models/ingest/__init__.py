"""The ingest path: the write-ahead buffer, the one writer, step rollups and key aliases."""
