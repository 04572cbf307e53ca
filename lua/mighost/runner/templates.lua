-- mighost.runner.templates: what `mighost new NAME --kind KIND` writes, one
-- starting migration per phase kind. Each passes `mighost check` as
-- written and runs as is on a table with a string hash key `pk`.

local M = {}

M.KINDS = {"copy", "update", "delete", "each"}

M.doc = {
  copy = "read a table, transform each item, write the results to another table",
  update = "change the items of a table in place (conditional UpdateItem)",
  delete = "delete the items a predicate selects, in batches",
  each = "call a function per item (e.g. start a task, invoke a Lambda function)",
}

local T = {}

T.copy = [==[
-- {{NAME}}: describe here what this migration does and why.
--
-- Try it:   mighost check {{FILE}}
--           mighost run {{FILE}} --source SRC --destination DST --dry-run --sample 3
-- Then:     mighost run {{FILE}} --source SRC --destination DST
local ddb = require "mighost.dynamodb"

return {
  name = "{{NAME}}",
  description = "Copy SOURCE into DESTINATION, changing each item (edit me).",

  -- Every parameter is also an option (--source NAME) and a --config key.
  params = {
    {name = "source", type = "table", required = true, access = "read",
     doc = "the table to read", key = {hash = "pk"}},      -- the key schema it must have
    {name = "destination", type = "table", required = true, access = "write",
     doc = "the table to write", key = {hash = "pk"}},
    {name = "stamp", type = "string", default = "v2", doc = "value written to `version`"},
  },

  phases = {
    -- A copy phase: a parallel scan of `source`, the transform for every
    -- item, batched writes to `destination`, checkpoints for --resume.
    {name = "copy", copy = {
      source = "source", destination = "destination",
      transform = function(item, ctx)
        -- Return nil to write nothing (say why with ctx:skip), an item, or
        -- a list of items. Items are in DynamoDB's typed form: {S = "text"}.
        if item.obsolete then
          ctx:skip("obsolete item", {pk = item.pk})
          return nil
        end
        item.version = {S = ctx.params.stamp}
        return item
      end,
    }},

    -- Verification: return ok (false makes the exit code 1) and the checks.
    {name = "verify", reads = {"source", "destination"}, verify = function(ctx)
      local missing, checked = 0, 0
      for item in ddb.scan{table = ctx.params.source, segments = 4} do
        if not item.obsolete then
          checked = checked + 1
          local copy = ddb.get{table = ctx.params.destination, key = {pk = item.pk}}
          if not copy or copy.version.S ~= ctx.params.stamp then missing = missing + 1 end
        end
      end
      return missing == 0, {{name = "every item copied", checked = checked, missing = missing}}
    end},
  },
}
]==]

T.update = [==[
-- {{NAME}}: describe here what this migration does and why.
--
-- Try it:   mighost check {{FILE}}
--           mighost run {{FILE}} --table TABLE --dry-run --sample 3
-- Then:     mighost run {{FILE}} --table TABLE
local ddb = require "mighost.dynamodb"

return {
  name = "{{NAME}}",
  description = "Set gsi1pk = tenant#type on every item of TABLE, in place (edit me).",

  params = {
    {name = "table", type = "table", required = true, access = "write",
     doc = "the table to change in place", key = {hash = "pk"}},
    {name = "concurrency", type = "integer", default = 32, doc = "updates in flight at once"},
  },

  phases = {
    -- An update phase: a parallel scan of `table`, change() for every item,
    -- one UpdateItem per item that needs it, with the condition
    -- attribute_exists(pk) so an item deleted meanwhile is not recreated.
    -- Items already as wanted are skipped: a second run writes nothing.
    {name = "backfill", update = {
      table = "table", concurrency = "concurrency",
      change = function(item, ctx, key)
        if not (item.tenant and item.type) then
          ctx:skip("no tenant or type", key)
          return nil
        end
        -- {set = {...}, remove = {...}, add = {...}} or {item = whole_item}
        return {set = {gsi1pk = {S = item.tenant.S .. "#" .. item.type.S}}}
      end,
    }},

    {name = "verify", reads = {"table"}, verify = function(ctx)
      local wrong, checked = 0, 0
      for item in ddb.scan{table = ctx.params.table, segments = 4, consistent = true} do
        if item.tenant and item.type then
          checked = checked + 1
          local want = item.tenant.S .. "#" .. item.type.S
          if not (item.gsi1pk and item.gsi1pk.S == want) then wrong = wrong + 1 end
        end
      end
      return wrong == 0, {{name = "gsi1pk set", checked = checked, wrong = wrong}}
    end},
  },
}
]==]

T.delete = [==[
-- {{NAME}}: describe here what this migration does and why.
--
-- Try it:   mighost check {{FILE}}
--           mighost run {{FILE}} --table TABLE --dry-run --plan deletes.jsonl
-- Then:     mighost run {{FILE}} --table TABLE
local ddb = require "mighost.dynamodb"

local function expired(item)
  return item.status ~= nil and item.status.S == "expired"
end

return {
  name = "{{NAME}}",
  description = "Delete the items of TABLE whose status is expired (edit me).",

  params = {
    {name = "table", type = "table", required = true, access = "write",
     doc = "the table to delete from", key = {hash = "pk"}},
  },

  phases = {
    -- A delete phase: the scan filter narrows what is read, select() has
    -- the final word; deletes go in batches (BatchWriteItem, with retries).
    {name = "delete", delete = {
      table = "table",
      scan = {filter = "#s = :s", names = {["#s"] = "status"}, values = {[":s"] = {S = "expired"}}},
      select = function(item, ctx) return expired(item) end,
    }},

    {name = "verify", reads = {"table"}, verify = function(ctx)
      local left = 0
      for item in ddb.scan{table = ctx.params.table, segments = 4, consistent = true} do
        if expired(item) then left = left + 1 end
      end
      return left == 0, {{name = "no expired item left", left = left}}
    end},
  },
}
]==]

T.each = [==[
-- {{NAME}}: describe here what this migration does and why.
--
-- Try it:   mighost check {{FILE}}
--           mighost run {{FILE}} --table TABLE --function NAME --dry-run
-- Then:     mighost run {{FILE}} --table TABLE --function NAME
local aws = require "mighost.aws"
local json = require "mighost.json"

return {
  name = "{{NAME}}",
  description = "Invoke a Lambda function once per item of TABLE (edit me).",

  params = {
    {name = "table", type = "table", required = true, access = "read",
     doc = "the table whose items are the work", key = {hash = "pk"}},
    {name = "function", type = "string", required = true, doc = "the function to invoke"},
  },

  phases = {
    -- An each phase: fn(item) for every item, at most `concurrency` at
    -- once and at most `rate` per second. An item is done once fn returned;
    -- --resume never calls fn again for an item that was done. Raise, or
    -- return nil, err, to fail the item (it is listed and retried by
    -- --resume); fn must be safe to repeat for an item it was running when
    -- the run stopped.
    {name = "invoke", each = {
      scan = {table = "table"}, concurrency = 8, rate = {rate = 20, burst = 20},
      fn = function(item, ctx)
        if ctx.dry_run then return true end        -- a dry-run only counts
        local res, err = aws.invoke(ctx.params["function"], json.encode({pk = item.pk.S}))
        if not res then return nil, err end
        return true
      end,
    }},
  },
}
]==]

-- The template of a kind with the migration's name and file filled in.
function M.render(kind, name, file)
  local text = assert(T[kind], kind)
  return (text:gsub("{{NAME}}", function() return name end)
              :gsub("{{FILE}}", function() return file end))
end

return M
