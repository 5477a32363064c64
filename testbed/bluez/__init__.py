"""A fake BlueZ on private D-Bus buses: the mock BLE adapter under which real bless and
bleak run, with ATT-level faithfulness (MTU, Read Blob, truncation, security) and fault
injection. Start it with ``python -m endorse_ble.testbed bluez`` or the ``fake_bluez``
pytest fixture.
"""
