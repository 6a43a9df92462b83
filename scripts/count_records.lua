-- redis-cli --eval scripts/count_records.lua STREAM , AFTER_ID
-- The click records in STREAM's entries after AFTER_ID ("-": all): an entry's record
-- field holds one or more records, a bare LF between two (a record's own LF is escaped).
local n, start = 0, ARGV[1] == '-' and '-' or '(' .. ARGV[1]
while true do
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 10000)
  if #entries == 0 then return n end
  for _, e in ipairs(entries) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'record' then
        local _, lf = string.gsub(f[i + 1], '\n', '')
        n = n + 1 + lf
      end
    end
  end
  start = '(' .. entries[#entries][1]
end
