"""The HTTP service (``fashionm3 serve``): turn API with SSE, media, memory, health and the web chat page.

Every client (the web page, messaging channels, MCP over HTTP, other agents) goes through one durable
turn queue (:mod:`agent.serve.queue`): idempotency keys, per-thread order and restart recovery are
solved there once. Importing this package is light; FastAPI loads in :func:`agent.serve.app.create_app`.
"""
