"""lots feature."""
