-- The wrk script for every load run of the benchmark driver. Without an
-- argument it sends a plain GET of the URL's path. With a file name after
-- "--" it POSTs that file's content as a form body. Both go through the
-- same request() function, so a GET of the form page and a GET of the
-- static copy cost wrk the same. done() prints one line that the driver
-- parses; latencies are in microseconds.

local prepared = nil

function init(args)
    if args[1] ~= nil then
        local file = assert(io.open(args[1], "rb"))
        local body = file:read("*a")
        file:close()
        prepared = wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
    else
        prepared = wrk.format("GET")
    end
end

function request()
    return prepared
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        "WRK-RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
