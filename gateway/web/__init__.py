"""The gateway's web side on the `[http]` port: health, readiness, metrics and the support console, one Flask app."""
