-- vams/reindex: reindex VAMS's OpenSearch indexes at any time through the
-- stack's reindexer Lambda function; the same migration as
-- vams/v2.2-to-v2.3 (vams/_reindex_migration.lua).
return require("vams._reindex_migration")("vams/reindex",
  "VAMS: reindex assets and/or files in OpenSearch through the reindexer Lambda function.")
