"""The same copy as bench/lua/copy.lua, written the straightforward way with
boto3 (Debian's python3-boto3): a paginated scan and boto3's batch_writer.
Usage: python3 bench/boto3_copy.py ENDPOINT SRC DST"""
import sys
import time

import boto3

endpoint, src, dst = sys.argv[1:4]
ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="bench", aws_secret_access_key="bench")
ddb.create_table(TableName=dst, BillingMode="PAY_PER_REQUEST",
                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
table = boto3.resource("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench").Table(dst)
start = time.monotonic()
n = 0
with table.batch_writer() as writer:
    for page in ddb.get_paginator("scan").paginate(TableName=src):
        for item in page["Items"]:
            item["migrated"] = {"BOOL": True}
            # batch_writer takes plain values; convert from the typed form.
            writer.put_item(Item=boto3.dynamodb.types.TypeDeserializer().deserialize({"M": item}))
            n += 1
elapsed = time.monotonic() - start
print(f"{'boto3 copy (scan + batch_writer)':<36} {n:8d} items {elapsed:7.2f} s {n / elapsed:9.0f} items/s")
