"""Hardware-free stand-ins that run the real code paths: fake BlueZ, Endorse simulator,
modem emulator, and the one-command demo."""
