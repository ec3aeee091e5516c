"""Cases: every queue the platform and its merchants work through, with a deadline."""
