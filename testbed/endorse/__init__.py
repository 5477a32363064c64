"""An Endorse simulator: the token endpoint and the public-key store on a local port.

See :mod:`endorse_ble.testbed.endorse.server` for what it answers and the fault modes it can play.
"""
