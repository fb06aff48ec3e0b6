"""The router: Alertmanager and deployment webhooks, the REST facade, and the A2A `route` skill."""
