-- POST /transactions, alternating A -> B and B -> A with each owner's token, so balances
-- stay level however long the run. Counts outcomes per direction from the answers.
-- Arguments: <account A> <token A> <account B> <token B> <amount>
counters = {"a_to_b", "b_to_a", "failed", "other_status"}

local function transfer(sender, receiver, token, amount)
  local body = string.format(
    '{"sender_id":"%s","receiver_id":"%s","amount":"%s","description":"bench"}',
    sender, receiver, amount)
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function init(args)
  account_a = args[1]
  forward = transfer(args[1], args[3], args[2], args[5])
  backward = transfer(args[3], args[1], args[4], args[5])
  sent = 0
  a_to_b = 0
  b_to_a = 0
  failed = 0
  other_status = 0
end

function request()
  sent = sent + 1
  if sent % 2 == 1 then return forward end
  return backward
end

function response(status, response_headers, response_body)
  if status ~= 200 and status ~= 201 then
    other_status = other_status + 1
  elseif not string.find(response_body, '"SUCCESS"', 1, true) then
    failed = failed + 1
  else
    local sender = string.match(response_body, '"sender_id"%s*:%s*"([^"]+)"')
    if sender == account_a then a_to_b = a_to_b + 1 else b_to_a = b_to_a + 1 end
  end
end
