"""The bundled products, one module per policy kind.

Each module exposes a `PRODUCT` record (`policy_engine.product.Product`),
declared in `pyproject.toml` under the entry-point group
`policy_engine.products`, exactly as a separate package declares its own.
Nothing here lists them: the registry finds them through the entry points.
"""
