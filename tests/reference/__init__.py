"""Independent, straight-line references of the bundled products' arithmetic, for differential tests.

Written from the domain reference (`domain.md` sections 1 and 3, with its
errata) and the policy files' stated parameters, not from the engine's code:
they share no code with `policy_engine` beyond reading the policy YAML into
plain data.  Where the domain reference is silent (which collateral is sold
first, what becomes of a rounding remainder, which asset cash is returned
in), each module names the documented convention it follows.
"""
