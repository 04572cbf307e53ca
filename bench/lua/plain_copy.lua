-- bench: the plain copy as a migration (a copy phase and its verification),
-- so the latency bench sees it the way it sees the packaged migrations.
return {
  name = "bench/plain-copy",
  description = "Copy SOURCE into DESTINATION, each item with one attribute added.",
  params = {
    {name = "source", type = "table", required = true, access = "read", doc = "table to read"},
    {name = "destination", type = "table", required = true, access = "write", doc = "table to write"},
  },
  phases = {
    {name = "copy", copy = {source = "source", destination = "destination",
      transform = function(it) it.migrated = {BOOL = true}; return it end}},
    {name = "verify", verify = {copy = "copy"}, reads = {"source", "destination"}},
  },
}
