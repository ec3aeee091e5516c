"""The ledger: double-entry accounts of every fen paid, settled and refunded."""
