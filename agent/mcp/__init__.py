"""The assistant as an MCP server (stdio and Streamable HTTP); see :mod:`agent.mcp.server`.

Importing this package does not import the ``mcp`` SDK; :mod:`agent.mcp.server` does.
"""
