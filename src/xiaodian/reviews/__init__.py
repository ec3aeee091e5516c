"""Buyer reviews (评价): stars, text and photos per product line, and the figures they feed."""
