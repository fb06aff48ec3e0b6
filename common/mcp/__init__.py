"""The MCP skeleton servers and agents share: tools and their groups, schemas, errors, scopes, bounds,
backends, serving, and the toolbox agents call servers through."""
