-- The client side of running steps, against tests/editors/stub_server.py (a stand-in server that offers
-- the six stepwise commands, logs them, and reports $/progress): the user commands send the right
-- command and argument, progress arrives through LspProgress, output opens. Run by nvim.sh.
-- Env: STEPWISE_PACKROOT, STEPWISE_EXAMPLES, STUB_SERVER, STUB_LOG. Exit code = failures.
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check = T.log, T.check

local function logged()
  local f = io.open(os.getenv('STUB_LOG'), 'r')
  if not f then
    return {}
  end
  local out = {}
  for line in f:lines() do
    out[#out + 1] = vim.json.decode(line)
  end
  f:close()
  return out
end

local function main()
  vim.opt.packpath:prepend(os.getenv('STEPWISE_PACKROOT'))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  stepwise.setup({ cmd = { 'python3', os.getenv('STUB_SERVER'), 'lsp' } })

  local events = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      events[#events + 1] = ev.data.params.value
    end,
  })

  vim.cmd.edit(vim.fn.fnameescape(os.getenv('STEPWISE_EXAMPLES') .. '/launch-brief.flow.yaml'))
  local buf = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(buf)
  local client
  vim.wait(5000, function()
    client = stepwise.client(buf)
    return client ~= nil and (client.initialized or client:is_stopped())
  end, 10)
  if not check('stub client attached', client and client.initialized) then
    return
  end

  -- :StepwiseRunStep on a line inside `ideas`: the client sends the cursor's position.
  local lnum
  for i, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l:match('Three campaign ideas') then
      lnum = i
    end
  end
  vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  local status_seen = ''
  vim.cmd('StepwiseRunStep provider=google model=gemini-2.5-flash')
  vim.wait(2000, function()
    local s = stepwise.status()
    if s ~= '' then
      status_seen = s
    end
    return #events >= 3
  end, 5)
  local l = logged()
  check('runStep sent once', #l == 1 and l[1].command == 'stepwise.runStep', vim.inspect(l))
  local at = { line = lnum - 1, character = 0 }
  check(
    'runStep argument {uri, position, provider, model}',
    #l == 1
      and vim.deep_equal(l[1].argument, { uri = uri, position = at, provider = 'google', model = 'gemini-2.5-flash' }),
    vim.inspect(l[1] and l[1].argument)
  )
  local kinds = vim.tbl_map(function(v)
    return v.kind
  end, events)
  check('$/progress begin, report, end through LspProgress', table.concat(kinds, ',') == 'begin,report,end', table.concat(kinds, ','))
  check('status() showed the run while it went on', status_seen:find('Run line ' .. at.line, 1, true) ~= nil, status_seen)
  check('status() is empty after the run', stepwise.status() == '', stepwise.status())

  -- :StepwiseRunStep ID, :StepwiseRunWorkflow, :StepwiseResume, :StepwiseCancel
  vim.cmd('StepwiseRunStep draft')
  vim.cmd('StepwiseRunWorkflow')
  vim.cmd('StepwiseResume')
  vim.cmd('StepwiseCancel')
  vim.wait(3000, function()
    return #logged() >= 5
  end, 10)
  l = logged()
  local got = {}
  for i = 2, #l do
    got[#got + 1] = l[i].command .. ' ' .. vim.json.encode(l[i].argument)
  end
  table.sort(got)
  local want = {
    'stepwise.cancel ' .. vim.json.encode({ uri = uri }),
    'stepwise.resume ' .. vim.json.encode({ uri = uri }),
    'stepwise.runStep ' .. vim.json.encode({ step = 'draft', uri = uri }),
    'stepwise.runWorkflow ' .. vim.json.encode({ uri = uri }),
  }
  table.sort(want)
  -- vim.json.encode key order is not fixed: compare decoded.
  local ok = #got == 4
  for i = 2, #l do
    local a = l[i].argument
    if l[i].command == 'stepwise.runStep' then
      ok = ok and vim.deep_equal(a, { uri = uri, step = 'draft' })
    else
      ok = ok and vim.deep_equal(a, { uri = uri })
    end
  end
  check('RunStep ID, RunWorkflow, Resume, Cancel send their commands with {uri[, step]}', ok, table.concat(got, ' | '))

  -- :StepwiseOutput opens the step's output in a scratch window.
  vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  local wins = #vim.api.nvim_list_wins()
  vim.cmd('StepwiseOutput')
  local shown = vim.wait(3000, function()
    return #vim.api.nvim_list_wins() > wins
  end, 10)
  local text = shown and table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') or ''
  check(':StepwiseOutput sends the cursor position', text == 'Fake output of line ' .. at.line, text)

  client:stop()
  vim.wait(2000, function()
    return client:is_stopped()
  end, 10)
end

T.run('nvim commands', main)
