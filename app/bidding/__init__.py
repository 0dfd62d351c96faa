"""bidding feature."""
