"""Online auctions of village collective assets."""
