"""A fake ModemManager on a private D-Bus bus, for the gateway's modemmanager backend."""
