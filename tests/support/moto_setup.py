"""Prepare a moto_server started with INITIAL_NO_AUTH_ACTION_COUNT=3 (see SETUP_ACTIONS).

Usage: moto_setup.py <endpoint> '<json {"stream": shardCount, ...}>'

The first SETUP_ACTIONS requests are free (not authenticated). We spend exactly those on IAM:
  1. iam:CreateUser       2. iam:CreateAccessKey       3. iam:PutUserPolicy (kinesis:*)
From then on moto verifies every request's SigV4 signature and IAM permissions, so the streams are
created (and waited for) with the new user's real credentials. Finally a request signed with a
wrong secret must be refused, proving that auth is enforced.

Prints {"accessKeyId": ..., "secretAccessKey": ..., "region": ..., "streams": {...}} on stdout.
"""
import json
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

SETUP_ACTIONS = 3  # must equal INITIAL_NO_AUTH_ACTION_COUNT given to moto_server
REGION = "us-east-1"
USER = "kinesis-batch-test"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"}],
}
CFG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service, endpoint, key, secret):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=CFG,
    )


def main():
    endpoint = sys.argv[1]
    streams = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}

    # --- the free (unauthenticated) actions: exactly SETUP_ACTIONS of them ---
    iam = client("iam", endpoint, "AKIDSETUP", "setup-secret-not-checked")
    iam.create_user(UserName=USER)  # 1
    key = iam.create_access_key(UserName=USER)["AccessKey"]  # 2
    iam.put_user_policy(  # 3
        UserName=USER, PolicyName="kinesis-all", PolicyDocument=json.dumps(POLICY)
    )
    access_key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]

    # --- from here on every request is authenticated for real ---
    kinesis = client("kinesis", endpoint, access_key_id, secret)
    for name, shards in streams.items():
        kinesis.create_stream(StreamName=name, ShardCount=int(shards))
    deadline = time.time() + 30
    for name in streams:
        while True:
            s = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if s["StreamStatus"] == "ACTIVE":
                break
            if time.time() > deadline:
                raise SystemExit(f"stream {name} not ACTIVE: {s['StreamStatus']}")
            time.sleep(0.05)

    # --- prove auth is now enforced: a wrong secret must be refused ---
    bad = client("kinesis", endpoint, access_key_id, secret + "x")
    try:
        bad.list_streams()
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        if status != 403:
            raise SystemExit(f"expected 403 for a wrong secret, got {status}: {e}")
    else:
        raise SystemExit("moto accepted a request signed with a wrong secret: auth is NOT enforced")

    json.dump(
        {
            "accessKeyId": access_key_id,
            "secretAccessKey": secret,
            "region": REGION,
            "streams": streams,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
