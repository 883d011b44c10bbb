-- wrk script for the kitchen JSON API benchmark (driven by bench/api_bench.py).
--
--   wrk -t T -c C -d 15s --latency -s bench/api.lua http://127.0.0.1:8001 -- MODE PREFIX COUNT T [API_KEY]
--
-- With API_KEY every request carries "Authorization: Bearer API_KEY".
--
-- MODE get    GET /api/orders/PREFIX-g-<i>, cycling over COUNT seeded 3-item orders.
-- MODE post   POST /api/orders, a new 3-item order per request: id and channelOrderId are
--             PREFIX-<thread>-<n>, never sent before, so every request inserts (201).
-- MODE patch  PATCH /api/orders/PREFIX-p-<i>/items/P1/status over COUNT seeded orders. Each
--             thread owns the orders i with i % T == thread and visits them in a cycle; visit
--             v of an order sends PREPARING when v is even and ORDERED (the allowed one-step undo)
--             when v is odd. The seeded item starts ORDERED, so every request is a real change
--             that writes the item's status and a history row, never a no-op. This holds as
--             long as an order's previous request has been answered before it is visited again,
--             i.e. COUNT / T is larger than the connections per thread (checked in init).
--
-- done() prints one line "BENCH_RESULT {json}" that api_bench.py reads; the status codes seen
-- are counted in response() so that a POST answered 200 (a repeat, nothing written) shows up.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads - 1)
end

-- Globals, not locals: done() runs in wrk's main Lua state and reads them with thread:get().
mode, prefix, n, codes = nil, nil, 0, {}
local count, nthreads, per_thread

local post_headers = { ["Content-Type"] = "application/json" }
-- A pickup time half an hour from now: a new order's times must lie near the server's clock.
local pickup = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 1800)
local post_template = '{"id":"%s","account":"acc-bench","brandId":"brand-bench","channelOrderId":"%s",'
   .. '"customer":{"name":"Bench Customer","phoneNumber":"+358401234567"},'
   .. '"pickupTime":"' .. pickup .. '","items":['
   .. '{"plu":"P1","name":"Burger","quantity":1},'
   .. '{"plu":"P2","name":"Fries","quantity":2},'
   .. '{"plu":"P3","name":"Cola","quantity":1}]}'
local patch_bodies = {
   [0] = '{"status":"PREPARING"}',
   [1] = '{"status":"ORDERED"}',
}

function init(args)
   mode = args[1]
   prefix = args[2]
   count = tonumber(args[3] or "0")
   nthreads = tonumber(args[4] or "1")
   local key = args[5]
   if key and key ~= "" then
      -- GET requests use wrk.headers (wrk.format's default), POST and PATCH post_headers.
      wrk.headers["Authorization"] = "Bearer " .. key
      post_headers["Authorization"] = "Bearer " .. key
   end
   if mode ~= "get" and mode ~= "post" and mode ~= "patch" then
      error("mode must be get, post or patch, not " .. tostring(mode))
   end
   if tid == 0 then
      -- wrk 4.x calls request() once on thread 0's Lua state to check the request it makes, and
      -- throws that request away. Start that thread at -1 so the real requests start at 0 (a
      -- lost PATCH would shift the toggle of one order by a step and make it a no-op).
      n = -1
   end
   if mode == "patch" then
      per_thread = math.floor(count / nthreads)
      -- wrk.connections is not exposed to the script; api_bench.py checks COUNT/T > C/T.
      if per_thread < 1 then
         error("patch needs at least one order per thread")
      end
   end
end

function request()
   local i = n
   n = n + 1
   if i < 0 then
      return wrk.format("GET", "/health")  -- the request wrk throws away (see init)
   end
   if mode == "get" then
      local idx = (i * nthreads + tid) % count
      return wrk.format("GET", "/api/orders/" .. prefix .. "-g-" .. idx)
   elseif mode == "post" then
      local id = prefix .. "-" .. tid .. "-" .. i
      return wrk.format("POST", "/api/orders", post_headers, string.format(post_template, id, id))
   else
      local k = i % per_thread
      local visit = math.floor(i / per_thread)
      local idx = tid + nthreads * k
      return wrk.format(
         "PATCH",
         "/api/orders/" .. prefix .. "-p-" .. idx .. "/items/P1/status",
         post_headers,
         patch_bodies[visit % 2]
      )
   end
end

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
end

local function json_codes(all)
   local parts = {}
   for code, c in pairs(all) do
      table.insert(parts, string.format('"%d":%d', code, c))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local all = {}
   local sent = 0
   local mode, prefix = threads[1]:get("mode"), threads[1]:get("prefix")
   for _, thread in ipairs(threads) do
      local c = thread:get("codes")
      for code, k in pairs(c) do
         all[code] = (all[code] or 0) + k
      end
      sent = sent + thread:get("n")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"mode":"%s","prefix":"%s","requests":%d,"sent":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"codes":%s}\n',
      mode, prefix, summary.requests, sent, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, json_codes(all)
   ))
end
