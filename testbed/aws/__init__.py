"""A local AWS (moto: STS, IAM, DynamoDB) for the exchange, and the environment to reach it."""
