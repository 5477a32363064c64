"""Shared, pure core of endorse-ble: token model, GATT profile codecs, error types.

Nothing in this package performs I/O or imports a hardware or network library, so the
gateway, the laptop CLI and the exchange can all depend on it.
"""
