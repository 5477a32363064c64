"""The laptop CLI: find the gateway over BLE, read its token, exchange it for AWS credentials."""
