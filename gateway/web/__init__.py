"""The daemon's web side on its `[http]` port: health, metrics (and the support console)."""
