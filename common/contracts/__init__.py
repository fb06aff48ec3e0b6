"""What each MCP tool of the project answers, shared by the server that answers and the agent that reads.

One module per server (`prometheus`, `loki`, `controlplane`) holds its tools' result models;
`results` holds their bases and the parts they share. The server publishes each model as its
tool's `outputSchema` and validates its answers against it.
"""
