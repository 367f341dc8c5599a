"""Domain logic. Imports no boto3: AWS and Slack are reached through ``slipway.adapters``."""
