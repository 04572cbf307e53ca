-- vams/v2.2-to-v2.3: the upgrade's data step, a full reindex into the new
-- OpenSearch dual index by the stack's reindexer Lambda function. The
-- migration itself is vams/_reindex_migration.lua (shared with vams/reindex).
return require("vams._reindex_migration")("vams/v2.2-to-v2.3",
  "VAMS v2.2 -> v2.3: reindex every asset and file into the OpenSearch dual index through the "
  .. "reindexer Lambda function.")
