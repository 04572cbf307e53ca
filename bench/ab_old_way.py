"""The A -> B move the way VAMS's removed VAMSDataMigration.py made it, for
comparison with vams/ab-deployment: for each bucket pair, list A and copy
each object with one CopyObject at a time; for each table pair, scan A and
write each item with one PutItem at a time. boto3 (Debian's python3-boto3),
every request through the given endpoint.
Usage: python3 bench/ab_old_way.py ENDPOINT MAPPING.json"""
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint, mapping = sys.argv[1:3]
with open(mapping) as f:
    doc = json.load(f)
session = boto3.session.Session(region_name="us-east-1")
s3 = session.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
ddb = session.client("dynamodb", endpoint_url=endpoint)

start = time.monotonic()
objects = 0
for pair in doc["VAMS_S3Bucket_Mapping"]:
    src, dst = pair["buckets"]["from"], pair["buckets"]["to"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src):
        for obj in page.get("Contents", []):
            s3.copy_object(Bucket=dst, Key=obj["Key"], CopySource={"Bucket": src, "Key": obj["Key"]})
            objects += 1
s3_seconds = time.monotonic() - start

start = time.monotonic()
items = 0
for pair in doc["VAMS_DynamoDBTable_Mapping"]:
    src, dst = pair["tables"]["from"], pair["tables"]["to"]
    for page in ddb.get_paginator("scan").paginate(TableName=src):
        for item in page["Items"]:
            ddb.put_item(TableName=dst, Item=item)
            items += 1
ddb_seconds = time.monotonic() - start
print(f"old way: {objects} objects in {s3_seconds:.2f} s ({objects / s3_seconds:.0f} objects/s), "
      f"{items} items in {ddb_seconds:.2f} s ({items / ddb_seconds:.0f} items/s)")
