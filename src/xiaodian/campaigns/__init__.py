"""Campaigns: coupons (优惠券) first."""
