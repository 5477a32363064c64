"""A 3G modem emulator on a pseudo-terminal, for the gateway's AT adapter."""
