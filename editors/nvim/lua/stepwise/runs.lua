-- :StepwiseRuns — the workflow's runs in a buffer, from the server's `stepwise/runs`: run → step →
-- attempt → failed requests and fan-out items, folded by indent, refreshed on `stepwise/runsChanged`.
-- Keys: <CR> jump to the step, r re-run, p re-run with another provider (vim.ui.select), f run from
-- here, o open output (a scratch buffer; live while the step streams `stepwise/output`), R refresh.
local M = {}

local MARKS = {
  completed = '✓',
  failed = '✗',
  cancelled = '⊘',
  running = '⟳',
  stale = 'stale',
  pending = '·',
  unfinished = '!',
}

--- Runs buffers: runs bufnr -> { source = workflow bufnr, uri, reply, nodes = { [lnum] = node } }.
M.views = {}
--- Live output buffers: key uri .. '\0' .. step -> { buf, run, parts = { [item or 'none'] = text } }.
M.live = {}

local function str(v)
  return v ~= nil and v ~= vim.NIL and v or nil
end

local function mark(status)
  return MARKS[status] or '·'
end

local function seconds(ms)
  ms = str(ms)
  return ms and ('%.1fs'):format(ms / 1000) or nil
end

--- The non-empty ones of `...` (nil allowed anywhere), joined by `sep`.
local function join(sep, ...)
  local out = {}
  for i = 1, select('#', ...) do
    local p = select(i, ...)
    if p and p ~= '' then
      out[#out + 1] = p
    end
  end
  return table.concat(out, sep)
end

local function asked(a)
  local p = str(a.provider) and str(a.provider.value) or '?'
  local m = str(a.model) and str(a.model.value) or '?'
  return p .. '/' .. m
end

local function answered(a)
  local by = str(a.answered_by)
  return by and (by.provider .. '/' .. by.model) or nil
end

--- The attempt whose output the step has (latest completed), else the latest; and its index.
local function shown_attempt(step)
  for i = #step.attempts, 1, -1 do
    if step.attempts[i].status == 'completed' then
      return step.attempts[i], i
    end
  end
  return step.attempts[#step.attempts], #step.attempts
end

--- A step's text, or its fan-out items each under `── item N ──` (numbered from 1), as the server renders it.
function M.output_document(parts)
  local out = ''
  for _, p in ipairs(parts) do
    if p.item == nil then
      out = out .. p.text
    else
      out = out .. (out ~= '' and '\n' or '') .. ('── item %d ──\n%s\n'):format(p.item + 1, p.text)
    end
  end
  return out
end

local function attempt_document(a)
  if str(a.outputs) then
    local parts = {}
    for i, t in ipairs(a.outputs) do
      parts[#parts + 1] = { item = i - 1, text = t }
    end
    return M.output_document(parts)
  end
  return str(a.output) or ''
end

--- `$0.0123`, with ` + ?` when some tokens had no known price.
function M.cost(cost)
  cost = str(cost)
  if not cost then
    return nil
  end
  local usd = str(cost.usd)
  local known = usd and ((usd >= 1) and ('$%.2f'):format(usd) or ('$%.4f'):format(usd)) or nil
  if not cost.unpriced then
    return known
  end
  return known and (known .. ' + ?') or '?'
end

local function utc(ms)
  return os.date('!%Y-%m-%d %H:%M:%S', math.floor(ms / 1000))
end

--- The buffer's lines and what each stands for: runs at indent 0, steps 2, attempts 4, details 6.
function M.render(name, reply)
  local lines = { ('stepwise runs of %s — <CR> jump  r re-run  p re-run with…  f run from  o output  R refresh'):format(name) }
  local nodes = {}
  local function add(line, node)
    lines[#lines + 1] = line
    nodes[#lines] = node
  end
  if #reply.runs == 0 then
    add('No runs yet.', nil)
  end
  for ri, run in ipairs(reply.runs) do
    local c = run.counts
    local counts = join(
      ', ',
      c.done .. ' done',
      c.failed > 0 and (c.failed .. ' failed') or nil,
      c.stale > 0 and (c.stale .. ' stale') or nil,
      c.other > 0 and (c.other .. ' not run') or nil
    )
    add(
      ('%s %s  %s'):format(mark(run.status), utc(run.started_at), join(' · ', run.status, counts, M.cost(run.cost), seconds(run.duration_ms), 'run ' .. run.id:sub(1, 13))),
      { kind = 'run', run = run, latest = ri == 1 }
    )
    for _, step in ipairs(run.steps) do
      local a = shown_attempt(step)
      local who = a and (answered(a) or asked(a)) or nil
      local node = { kind = 'step', run = run, step = step, latest = ri == 1 }
      add(('  %s %s  %s'):format(mark(step.status), step.id, join(' · ', who, a and seconds(a.duration_ms), str(step.reused_from) and 'earlier run')), node)
      for ai, at in ipairs(step.attempts) do
        local tokens = at.usage.input_tokens + at.usage.output_tokens
        local by = answered(at)
        add(
          ('    #%d %s %s  %s'):format(ai, mark(at.status), at.status, join(
            ' · ',
            asked(at),
            by and by ~= asked(at) and ('answered by ' .. by) or nil,
            at.one_time and 'one-time' or nil,
            seconds(at.duration_ms),
            tokens .. ' tok',
            str(at.cost_usd) and ('$%.4f'):format(at.cost_usd) or nil
          )),
          { kind = 'attempt', run = run, step = step, index = ai, latest = ri == 1 }
        )
        local err = str(at.error)
        if err then
          add(('      error: %s %s: %s'):format(err.provider, err.failure.class, err.failure.message), node)
        end
        for _, call in ipairs(at.calls) do
          if str(call.error) then
            add(
              ('      ! %s/%s%s %s%s%s'):format(
                call.provider,
                call.model,
                str(call.item) and (' item ' .. (call.item + 1)) or '',
                call.error.class,
                str(call.error.status) and (' (' .. call.error.status .. ')') or '',
                str(call.retry_after_ms) and (' · retried after ' .. call.retry_after_ms .. ' ms') or ''
              ),
              node
            )
          end
        end
        for ii, text in ipairs(str(at.outputs) or {}) do
          add(('      item %d: %s'):format(ii, (text:gsub('\n.*', ''))), node)
        end
      end
    end
  end
  return lines, nodes
end

local function client_of(source)
  return require('stepwise').client(source)
end

--- Asks the server for the runs of the view's workflow and redraws the view.
function M.refresh(view_buf)
  local view = M.views[view_buf]
  local client = view and client_of(view.source)
  if not client then
    return
  end
  client:request('stepwise/runs', { uri = view.uri }, function(err, reply)
    vim.schedule(function()
      if err or not vim.api.nvim_buf_is_valid(view_buf) then
        return
      end
      view.reply = reply
      local lines, nodes = M.render(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(view.source), ':t'), reply)
      view.nodes = nodes
      vim.bo[view_buf].modifiable = true
      vim.api.nvim_buf_set_lines(view_buf, 0, -1, false, lines)
      vim.bo[view_buf].modifiable = false
    end)
  end, view.source)
end

local function node_at_cursor(view_buf)
  local view = M.views[view_buf]
  local lnum = vim.api.nvim_win_get_cursor(0)[1]
  return view, view and view.nodes[lnum]
end

local function step_node(view_buf)
  local view, node = node_at_cursor(view_buf)
  if not node or node.kind == 'run' then
    vim.notify('stepwise: put the cursor on a step', vim.log.levels.WARN)
    return view, nil
  end
  return view, node
end

--- <CR>: the step's line in the workflow's window (opened in a split when none shows it).
function M.jump(view_buf)
  local view, node = step_node(view_buf)
  if not node then
    return
  end
  local line
  for _, s in ipairs(view.reply.steps or {}) do
    if s.id == node.step.id then
      line = s.line
    end
  end
  if not line then
    return
  end
  local win = vim.fn.bufwinid(view.source)
  if win == -1 then
    vim.cmd('aboveleft split')
    vim.api.nvim_win_set_buf(0, view.source)
    win = vim.api.nvim_get_current_win()
  end
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { line + 1, 0 })
end

local function run_command(view, command, args)
  require('stepwise').execute(command, args, view.source)
end

function M.rerun(view_buf)
  local view, node = step_node(view_buf)
  if node then
    run_command(view, 'stepwise.runStep', { step = node.step.id })
  end
end

function M.run_from(view_buf)
  local view, node = step_node(view_buf)
  if node then
    run_command(view, 'stepwise.runFrom', { step = node.step.id })
  end
end

--- p: re-run with another available provider, this run only.
function M.rerun_with(view_buf)
  local view, node = step_node(view_buf)
  if not node then
    return
  end
  local last = node.step.attempts[#node.step.attempts]
  local ran_on = last and str(last.provider) and last.provider.value
  local choices = vim.tbl_filter(function(p)
    return p ~= ran_on
  end, view.reply.providers or {})
  if #choices == 0 then
    vim.notify('stepwise: no other provider is available')
    return
  end
  vim.ui.select(choices, { prompt = ('Re-run `%s` with (this run only)'):format(node.step.id) }, function(provider)
    if provider then
      run_command(view, 'stepwise.runStep', { step = node.step.id, provider = provider })
    end
  end)
end

local function scratch(name, text)
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  pcall(vim.api.nvim_buf_set_name, buf, name)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
  vim.bo[buf].modifiable = false
  return buf
end

local function redraw_live(entry)
  if not vim.api.nvim_buf_is_valid(entry.buf) then
    return
  end
  local parts = {}
  for item, text in pairs(entry.parts) do
    parts[#parts + 1] = { item = item ~= 'none' and item or nil, text = text }
  end
  table.sort(parts, function(a, b)
    return (a.item or -1) < (b.item or -1)
  end)
  vim.bo[entry.buf].modifiable = true
  vim.api.nvim_buf_set_lines(entry.buf, 0, -1, false, vim.split(M.output_document(parts), '\n', { plain = true }))
  vim.bo[entry.buf].modifiable = false
end

--- Shows the reply of `stepwise.openOutput` for a running step live; false when the step is not running.
function M.open_live(uri, result)
  if type(result) ~= 'table' or result.running ~= true then
    return false
  end
  local entry = { run = str(result.run), parts = {} }
  for _, p in ipairs(str(result.parts) or {}) do
    entry.parts[str(p.item) or 'none'] = p.text
  end
  entry.buf = scratch('stepwise://output/' .. result.step .. ' (live)', '')
  M.live[uri .. '\0' .. result.step] = entry
  redraw_live(entry)
  return true
end

--- o: the output of the attempt under the cursor (of the step: its output's attempt); live while it runs.
function M.open_output(view_buf)
  local view, node = step_node(view_buf)
  if not node then
    return
  end
  if node.kind == 'step' and node.latest and node.step.status == 'running' then
    require('stepwise').execute('stepwise.openOutput', { step = node.step.id }, view.source, function(err, result)
      if not err then
        vim.schedule(function()
          M.open_live(view.uri, result)
        end)
      end
    end)
    return
  end
  local attempt, index
  if node.kind == 'attempt' then
    attempt, index = node.step.attempts[node.index], node.index
  else
    attempt, index = shown_attempt(node.step)
  end
  if not attempt or (not str(attempt.output) and not str(attempt.outputs)) then
    vim.notify(('stepwise: step `%s` has no output in this run'):format(node.step.id))
    return
  end
  scratch(('stepwise://output/%s #%d'):format(node.step.id, index), attempt_document(attempt))
end

--- `stepwise/output`: appends streamed text to the live output buffer of its step.
function M.on_output(_, params)
  local entry = params and M.live[params.uri .. '\0' .. params.step]
  if not entry then
    return
  end
  if entry.run ~= params.run then
    entry.run, entry.parts = params.run, {}
  end
  local key = str(params.item) or 'none'
  entry.parts[key] = (params.reset and '' or (entry.parts[key] or '')) .. params.text
  vim.schedule(function()
    redraw_live(entry)
  end)
end

--- `stepwise/runsChanged`: refreshes the views of that workflow.
function M.on_runs_changed(_, params)
  for view_buf, view in pairs(M.views) do
    if params and view.uri == params.uri and vim.api.nvim_buf_is_valid(view_buf) then
      M.refresh(view_buf)
    end
  end
end

--- :StepwiseRuns — opens (or refreshes) the runs buffer of the current workflow.
function M.open()
  local source = vim.api.nvim_get_current_buf()
  if not client_of(source) then
    vim.notify('stepwise: no stepwise language server attached to this buffer', vim.log.levels.ERROR)
    return
  end
  local uri = vim.uri_from_bufnr(source)
  for view_buf, view in pairs(M.views) do
    if view.uri == uri and vim.api.nvim_buf_is_valid(view_buf) then
      M.refresh(view_buf)
      return view_buf
    end
  end
  vim.cmd('botright vnew')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'stepwise-runs'
  vim.bo[buf].shiftwidth = 2
  pcall(vim.api.nvim_buf_set_name, buf, 'stepwise://runs/' .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(source), ':t'))
  vim.wo.foldmethod = 'indent'
  vim.wo.foldlevel = 1
  vim.bo[buf].modifiable = false
  M.views[buf] = { source = source, uri = uri, reply = { runs = {}, steps = {}, providers = {} }, nodes = {} }
  local keys = {
    ['<CR>'] = M.jump,
    r = M.rerun,
    p = M.rerun_with,
    f = M.run_from,
    o = M.open_output,
    R = M.refresh,
  }
  for lhs, fn in pairs(keys) do
    vim.keymap.set('n', lhs, function()
      fn(buf)
    end, { buffer = buf, nowait = true })
  end
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    callback = function()
      M.views[buf] = nil
    end,
  })
  M.refresh(buf)
  return buf
end

--- Registers the notifications' handlers (once, from setup).
function M.setup()
  vim.lsp.handlers['stepwise/output'] = M.on_output
  vim.lsp.handlers['stepwise/runsChanged'] = M.on_runs_changed
end

return M
