"""A stub product defined only in the tests: price alerts on a watched portfolio.

It plugs into the seam the way a separate package would (an entry point naming
`price_alerts:PRODUCT`), and exercises the shared table kit, a cross-kind lint
and evaluation read of the crypto-loan policy, an operation and the
simulation and explanation hooks.
"""
