"""The gateway daemon: fetch the Endorse token over the modem's link and serve it over BLE."""
