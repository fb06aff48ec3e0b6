"""Agents: each subdirectory is one A2A agent (and an ADK app for `adk web agents`)."""
