"""The category tree: reference data every domain above reads (a shop's main category,
a product's category, later the fee rate of a category)."""
