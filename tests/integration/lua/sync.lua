-- mighost.sync without AWS: bounds, ordering of waits, errors, single
-- flight and the token bucket's rate. Raises on the first wrong answer.
local sync = require "mighost.sync"
local mh = require "mighost"

-- each: every value once, never more than `limit` at once.
do
  local seen, running, peak = {}, 0, 0
  local function values(n)
    local i = 0
    return function() i = i + 1; if i <= n then return i end end
  end
  sync.each(values(200), 7, function(v)
    running = running + 1
    peak = math.max(peak, running)
    mh.sleep(0.001 * (v % 3))
    seen[v] = (seen[v] or 0) + 1
    running = running - 1
  end)
  for v = 1, 200 do assert(seen[v] == 1, "value " .. v .. " seen " .. tostring(seen[v])) end
  assert(peak == 7, "peak " .. peak)
  assert(running == 0)
  print("each: 200 values once each, at most 7 at once")
end

-- each over a list: the same, with a task per worker; an error stops the rest.
do
  local list, seen, running, peak = {}, {}, 0, 0
  for v = 1, 50 do list[v] = v end
  sync.each(list, 5, function(v)
    running = running + 1
    peak = math.max(peak, running)
    mh.sleep(0.001 * (v % 2))
    seen[v] = (seen[v] or 0) + 1
    running = running - 1
  end)
  for v = 1, 50 do assert(seen[v] == 1, "list value " .. v .. " seen " .. tostring(seen[v])) end
  assert(peak == 5, "list peak " .. peak)
  local done = 0
  local ok, err = pcall(sync.each, list, 3, function(v)
    mh.sleep(0.001)
    if v == 4 then error("list boom", 0) end
    done = done + 1
  end)
  assert(not ok and err == "list boom" and done < 49, tostring(err) .. " " .. done)
  print("each over a list: 50 values once each, at most 5 at once; an error stops the rest")
end

-- A worker's error: no new work starts, the rest finish, the error is raised.
do
  local started, finished = 0, 0
  local i = 0
  local ok, err = pcall(sync.each, function() i = i + 1; if i <= 100 then return i end end, 4,
    function(v)
      started = started + 1
      mh.sleep(0.002)
      if v == 10 then error("boom at 10", 0) end
      finished = finished + 1
    end)
  assert(not ok and err == "boom at 10", tostring(err))
  assert(started < 100, "work went on after the error: " .. started)
  assert(finished == started - 1, ("started %d finished %d"):format(started, finished))
  print(("each: error raised after %d started, the others finished"):format(started))
end

-- pool: heterogeneous work and wait().
do
  local pool = sync.pool(3)
  local sum = 0
  for i = 1, 10 do pool:go(function(a, b) mh.sleep(0.001); sum = sum + a * b end, i, 2) end
  pool:wait()
  assert(sum == 110, sum)
  assert(not pool:failed())
  local ok = pcall(sync.pool, 0)
  assert(not ok, "a pool of 0 is refused")
  print("pool: 10 jobs, arguments passed, sum 110")
end

-- group: wait returns only after every done().
do
  local g = sync.group()
  local done = 0
  g:add(5)
  for i = 1, 5 do mh.spawn(function() mh.sleep(0.001 * i); done = done + 1; g:done() end) end
  g:wait()
  assert(done == 5)
  g:wait()  -- nothing to wait for: returns at once
  assert(not pcall(g.done, g), "done() without add() raises")
  print("group: waited for 5")
end

-- once_per_key: one fetch per key however many ask at once; failures are
-- not kept.
do
  local fetches = {}
  local fail_next = {b = true}
  local cache = sync.once_per_key(function(key)
    fetches[key] = (fetches[key] or 0) + 1
    mh.sleep(0.005)
    if fail_next[key] then fail_next[key] = nil; return nil, "no " .. key end
    return key:upper()
  end)
  local results = {}
  local g = sync.group()
  for i = 1, 30 do
    g:add()
    mh.spawn(function()
      local key = ({"a", "b", "c"})[i % 3 + 1]
      local v, err = cache.get(key)
      results[#results + 1] = v or err
      g:done()
    end)
  end
  g:wait()
  assert(fetches.a == 1 and fetches.c == 1, "one fetch each for a and c")
  assert(fetches.b == 1, "b fetched once by the ten that asked together")
  local nb = 0
  for _, r in ipairs(results) do if r == "no b" then nb = nb + 1 end end
  assert(nb == 10, "the ten callers of b all got its error: " .. nb)
  assert(cache.get("b") == "B" and fetches.b == 2, "b's failure was not kept")
  assert(cache.get("a") == "A" and fetches.a == 1)
  assert(cache.size() == 3)
  print("once_per_key: one fetch per key, failures retried")
end

-- bucket: 50 tokens per second with a burst of 5: 30 takes need about
-- (30 - 5) / 50 = 0.5 s; never faster than the rate allows.
do
  local b = sync.bucket{rate = 50, burst = 5}
  local t0 = mh.clock()
  for _ = 1, 30 do b:take() end
  local dt = mh.clock() - t0
  assert(dt >= 0.45, ("30 tokens at 50/s with burst 5 took only %.3f s"):format(dt))
  b:drain()
  local t1 = mh.clock()
  b:take(2)
  assert(mh.clock() - t1 >= 0.035, "a drained bucket waits")
  assert(not pcall(sync.bucket, {rate = 0}))
  print(("bucket: 30 takes in %.2f s at 50/s, burst 5"):format(dt))
end
print("sync: ok")
