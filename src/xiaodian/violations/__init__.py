"""Violations (违规) and appeals (申诉): the platforms penalties and the merchants answer."""
