-- Exports tables to a folder in the formats --source-dir reads, one format
-- after another so that all are covered: arg: DIR TABLE...
--   1st, 4th, ... table: TABLE.jsonl, plain items (no wrapper)
--   2nd, 5th, ...:       TABLE.json.gz, S3-export lines {"Item": {...}}
--   3rd, 6th, ...:       TABLE/data/part-N.json.gz, two files, as S3 exports
local ddb = require "mighost.dynamodb"
local item = require "mighost.item"
local gz = require "mighost.gz"
local sys = require "mighost.sys"

local dir = assert(arg[1], "usage: export.lua DIR TABLE...")
for i = 2, #arg do
  local t = arg[i]
  local lines = {}
  for it in ddb.scan{table = t} do lines[#lines + 1] = item.encode(it) end
  local kind = (i - 2) % 3
  if kind == 0 then
    assert(sys.write_file(dir .. "/" .. t .. ".jsonl", #lines > 0 and table.concat(lines, "\n") .. "\n" or ""))
  else
    for k, l in ipairs(lines) do lines[k] = '{"Item":' .. l .. '}' end
    if kind == 1 then
      assert(gz.write(dir .. "/" .. t .. ".json.gz", #lines > 0 and table.concat(lines, "\n") .. "\n" or ""))
    else
      assert(os.execute(("mkdir -p '%s/%s/data'"):format(dir, t)))
      local half = #lines // 2
      local a, b = {}, {}
      for k, l in ipairs(lines) do if k <= half then a[#a + 1] = l else b[#b + 1] = l end end
      assert(gz.write(("%s/%s/data/part-0.json.gz"):format(dir, t), table.concat(a, "\n")))
      assert(gz.write(("%s/%s/data/part-1.json.gz"):format(dir, t), table.concat(b, "\n")))
      assert(sys.write_file(("%s/%s/manifest-summary.json"):format(dir, t), '{"itemCount":' .. #lines .. '}\n'))
    end
  end
  print(("%s: %d items"):format(t, #lines))
end
