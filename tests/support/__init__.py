"""Test helpers: real backend processes, identity (issuer, authorization server, tokens), served
components and federations, recorded datasets and the clients the tests drive them with.

Tests import them as `support.<module>` (pytest puts tests/ on the path, see pyproject.toml).
"""
