"""Promoters: creators, sharers and affiliates who sell a shop's products for a commission."""
