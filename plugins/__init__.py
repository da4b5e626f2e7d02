"""The plugins that ship with kpi. Each is an ordinary plugin using only the public hooks."""
