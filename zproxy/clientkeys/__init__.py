"""Client API keys kept in the store: the key ring, its limits, and the request gate."""
