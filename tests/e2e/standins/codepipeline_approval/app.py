"""Stand-in: records the SNS message it received."""

RECEIVED = []


def lambda_handler(event, context):
    RECEIVED.append(event)
    return {"topic": event["Records"][0]["Sns"]["TopicArn"]}
