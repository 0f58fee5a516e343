-- POST /payments with a fresh Idempotency-Key on every request.
-- Arguments: <key prefix unique to this wrk run> <bearer token> <JSON body>
-- A 202 that replays an earlier answer (Idempotent-Replayed) is counted apart: a key
-- prefix used twice would otherwise count replays as new payments.
counters = {"accepted", "replayed", "client_error", "server_error"}

function init(args)
  key_prefix = args[1] .. "-" .. thread_id .. "-"
  headers = {
    ["Authorization"] = "Bearer " .. args[2],
    ["Content-Type"] = "application/json",
  }
  body = args[3]
  sent = 0
  accepted = 0
  replayed = 0
  client_error = 0
  server_error = 0
end

function request()
  sent = sent + 1
  headers["Idempotency-Key"] = key_prefix .. sent
  return wrk.format("POST", nil, headers, body)
end

function response(status, response_headers, response_body)
  local replay = response_headers["idempotent-replayed"] or response_headers["Idempotent-Replayed"]
  if (status == 202 or status == 201) and replay then
    replayed = replayed + 1
  elseif status == 202 or status == 201 then
    accepted = accepted + 1
  elseif status >= 500 then
    server_error = server_error + 1
  else
    client_error = client_error + 1
  end
end
