-- wrk script for bench-edge: each request taps a short link with a chosen user agent
-- and a public client address (X-Forwarded-For from the trusted loopback proxy).
--   LR_AGENTS  file of user agents, one a line
--   LR_MODE    "corpus": agents cycle through the file (the per-worker cache sees
--              repeats); "unique": every request's agent is new (a counter appended)
--              "misses": every request taps a link not tapped before (/m0, /m1, ...,
--              from LR_MISS_OFFSET on, so that a later run taps others), so the link
--              cache never has it
--   LR_PATHS   space-separated paths to tap (corpus and unique modes)
local agents, paths = {}, {}
local mode = os.getenv("LR_MODE") or "corpus"
for line in io.lines(os.getenv("LR_AGENTS")) do agents[#agents + 1] = line end
for p in string.gmatch(os.getenv("LR_PATHS") or "/", "%S+") do paths[#paths + 1] = p end

local n, thread_id = 0, 0
local miss_offset = tonumber(os.getenv("LR_MISS_OFFSET") or "0")
local counter = 1
function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

function request()
  n = n + 1
  local ua = agents[(n % #agents) + 1]
  if mode == "unique" then ua = ua .. " lr/" .. thread_id .. "." .. n end
  local ip = string.format("%d.%d.%d.%d", 81 + (n % 100), (n * 7) % 256, (n * 13) % 256, 1 + n % 250)
  local path = paths[(n % #paths) + 1]
  if mode == "misses" then path = string.format("/m%d", miss_offset + n * 2 + thread_id - 1) end
  return wrk.format("GET", path, { ["User-Agent"] = ua, ["X-Forwarded-For"] = ip })
end

