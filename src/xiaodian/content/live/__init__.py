"""Live rooms that sell: hosts, pinned products, flash sales, real-time events."""
