"""Operator surfaces: the live dashboard pages, `/ws/dashboard` and `/api/dashboard/state`."""
