"""Stand-in: maps the error name to the release outcome."""


def lambda_handler(event, context):
    error = event["error"]["Error"]
    status = {"Rejected": "REJECTED", "Expired": "EXPIRED", "Superseded": "SUPERSEDED"}.get(error, "FAILED")
    return {"status": status, "cause": event["error"].get("Cause")}
