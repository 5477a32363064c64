"""The reference exchange: verify an Endorse token and issue temporary AWS credentials."""
