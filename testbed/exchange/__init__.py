"""Test stand-ins for the exchange's dependencies: moto (STS, DynamoDB) and configs."""
