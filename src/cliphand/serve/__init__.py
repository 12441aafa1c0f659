"""`cliphand serve`: a web page and an HTTP API over a pool of loaded models (the serve extra)."""
