"""After-sales (售后): refunds, returns, exchanges, arbitration."""
