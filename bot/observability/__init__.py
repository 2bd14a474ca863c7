"""Watching the bot run: logging set-up, the one log line per job, Prometheus metrics, the
health check and the HTTP server that serves them. Discord-free: what it needs to know about
the gateway comes in as a callable."""
