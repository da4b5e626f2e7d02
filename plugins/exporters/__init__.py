"""Exporters: plugins that send results to payroll files and HR systems."""
