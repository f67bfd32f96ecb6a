"""Deaggregate KPL records with PyPI aws-kinesis-agg (aws_kinesis_agg.deaggregator), for deaggregate.mjs.

stdin: one JSON object per line, a Kinesis record as read back from a stream:
  {"data": <base64>, "partitionKey": str, "explicitHashKey": str?, "sequenceNumber": str?}
stdout: one JSON object per user record, in order:
  {"source": <input line index>, "data": <base64>, "partitionKey": str,
   "explicitHashKey": str?, "sequenceNumber": str?, "subSequenceNumber": int?}
subSequenceNumber is present only for records the library found to be aggregated.

The library prints decoding errors inside an aggregate to stderr and silently drops the rest of
that aggregate's user records. That is turned into a failure here (exit code 2, message on
stderr) so that a test never sees a short list without noticing.

Run with tests/.venv/bin/python.
"""

import base64
import contextlib
import io
import json
import sys

from aws_kinesis_agg.deaggregator import deaggregate_records


def lambda_record(rec):
    """The Lambda event shape deaggregate_records expects (it reads these kinesis.* keys)."""
    kinesis = {
        "kinesisSchemaVersion": "1.0",
        "sequenceNumber": rec.get("sequenceNumber"),
        "approximateArrivalTimestamp": None,
        "partitionKey": rec["partitionKey"],
        "data": rec["data"],
    }
    if rec.get("explicitHashKey") is not None:
        kinesis["explicitHashKey"] = rec["explicitHashKey"]
    return {"kinesis": kinesis}


def main():
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
    for index, line in enumerate(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")):
        if not line.strip():
            continue
        rec = json.loads(line)
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            user_records = deaggregate_records([lambda_record(rec)])
        if captured.getvalue():
            sys.stderr.write(f"aws_kinesis_agg failed on record {index}:\n{captured.getvalue()}")
            return 2
        for ur in user_records:
            k = ur["kinesis"]
            data = k["data"]
            if isinstance(data, bytes):  # aggregated user records carry base64 *bytes*
                data = data.decode("ascii")
            item = {"source": index, "data": data, "partitionKey": k["partitionKey"]}
            if k.get("explicitHashKey") is not None:
                item["explicitHashKey"] = k["explicitHashKey"]
            if k.get("sequenceNumber") is not None:
                item["sequenceNumber"] = k["sequenceNumber"]
            if "subSequenceNumber" in k:
                item["subSequenceNumber"] = k["subSequenceNumber"]
            out.write(json.dumps(item) + "\n")  # ASCII-only JSON: any key round-trips exactly
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
