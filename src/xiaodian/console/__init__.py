"""The merchant console's home: one shop's figures, each from the domain that owns it.

A console, not a domain: it owns no table and sits on top of the domains it reads (as
``ops`` does for the operators), so merchants never imports the domains above it."""
