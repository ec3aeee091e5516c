"""Merchant health (商家体验分): a score out of 100 per shop, explained part by part."""
