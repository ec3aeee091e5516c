"""xiaodian (小店): a self-hostable, closed-loop content-commerce platform."""

__version__ = "0.1.0"
