"""Stand-in: reports the job successful after reading its details back."""

import boto3


def lambda_handler(event, context):
    job_id = event["CodePipeline.job"]["id"]
    client = boto3.client("codepipeline")
    details = client.get_job_details(jobId=job_id)["jobDetails"]
    client.put_job_success_result(jobId=job_id, outputVariables={"seen": details["id"]})
    return {"job": job_id}
