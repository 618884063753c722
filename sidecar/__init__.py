"""AgentCom sidecar: the always-on relay between the hub and one agent (PROTOCOL.md §6)."""

__version__ = "2.0.0"
