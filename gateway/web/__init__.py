"""The gateway's web side: the support console and the HTTP endpoints, on one Flask app (`create_app`)."""
