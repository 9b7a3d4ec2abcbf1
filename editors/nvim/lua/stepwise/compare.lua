-- Compare a step across providers: `:StepwiseCompare [TARGET…]` (TARGET = provider[/model][@persona];
-- none: pick from the server's candidates) and the `⇄ Compare` code lens send `stepwise.compareStep`
-- and show the targets side by side in a scratch buffer, where `u` on a target uses it for the step
-- and `f` adds it to the step's fallback list (the server builds and applies both edits).
local M = {}

--- `provider[/model][@persona]` as the server's target object, or nil and why.
function M.parse_target(text)
  local rest, persona = text:match('^([^@]*)@(.*)$')
  rest = rest or text
  local provider, model = rest:match('^([^/]*)/(.*)$')
  provider = provider or rest
  if provider == '' then
    return nil, ('target `%s` has no provider: write provider[/model][@persona]'):format(text)
  end
  if model == '' or persona == '' then
    return nil, ('target `%s` has an empty part: write provider[/model][@persona]'):format(text)
  end
  return { provider = provider, model = model, persona = persona }
end

local function str(v)
  return v ~= nil and v ~= vim.NIL and v or nil
end

--- USD as the CLI shows it (`$0.0040`, `$12.50`), or `no price` when unknown; a cost too
--- small for four decimals reads `< $0.0001`, not `$0.0000` (it is not free).
function M.usd(amount)
  if not amount then
    return 'no price'
  end
  if amount > 0 and amount < 0.00005 then
    return '< $0.0001'
  end
  return math.abs(amount) >= 1 and ('$%.2f'):format(amount) or ('$%.4f'):format(amount)
end

--- The lines of the comparison buffer, and which target each line belongs to.
function M.render(result)
  local lines = { ('# Compare `%s`'):format(result.step), '' }
  local owner = {}
  for i, prompt in ipairs(result.prompts or {}) do
    local head = #result.prompts > 1 and ('Prompt %d: '):format(i) or 'Prompt: '
    local first = vim.split(prompt, '\n', { plain = true })[1]
    lines[#lines + 1] = '> ' .. head .. first
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = '`u` use for this step · `f` add to fallback · `q` close'
  for i, target in ipairs(result.targets or {}) do
    local first = #lines + 2
    local latency = str(target.latency)
    local time = latency and (latency.median_ms .. ' ms') or '–'
    if latency and (result['repeat'] or 1) > 1 then
      time = ('%d / %d / %d ms'):format(latency.min_ms, latency.median_ms, latency.max_ms)
    end
    local tin, tout = 0, 0
    for _, s in ipairs(target.samples or {}) do
      tin, tout = tin + s.usage.input_tokens, tout + s.usage.output_tokens
    end
    local status = target.samples[1] and target.samples[1].status or '?'
    for _, s in ipairs(target.samples or {}) do
      if s.status ~= 'completed' then
        status = s.status
      end
    end
    vim.list_extend(lines, {
      '',
      ('## %d. %s'):format(i, target.label),
      ('%s · %s · %d in / %d out tokens · %s'):format(status, time, tin, tout, M.usd(str(target.cost_usd))),
      '',
    })
    for n, s in ipairs(target.samples or {}) do
      if #target.samples > 1 then
        lines[#lines + 1] = ('### #%d (%d ms)'):format(n, s.duration_ms)
      end
      local text = str(s.output) or (str(s.error) and ('✗ ' .. s.error.message)) or s.status
      vim.list_extend(lines, vim.split(text, '\n', { plain = true }))
    end
    for l = first, #lines do
      owner[l] = i
    end
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = 'record: ' .. tostring(result.record)
  return lines, owner
end

--- Shows `result` in a scratch buffer beside the workflow `source` (buffer number).
function M.show(result, source)
  local stepwise = require('stepwise')
  local lines, owner = M.render(result)
  vim.cmd('botright vnew')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  pcall(vim.api.nvim_buf_set_name, buf, 'stepwise://compare/' .. result.step)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'markdown'
  local function adopt(as)
    local i = owner[vim.api.nvim_win_get_cursor(0)[1]]
    local target = i and result.targets[i]
    if not target then
      return vim.notify('stepwise: put the cursor on a target', vim.log.levels.WARN)
    end
    local args = { step = result.step, provider = target.provider, model = target.model, as = as }
    if as == 'step' then
      args.persona = str(target.persona)
    end
    stepwise.execute(stepwise.commands.use_target, args, source, function(err, reply)
      if not err and reply and reply.applied == false and reply.message then
        vim.notify('stepwise: ' .. reply.message, vim.log.levels.WARN)
      end
    end)
  end
  local map = function(key, fn, desc)
    vim.keymap.set('n', key, fn, { buffer = buf, desc = desc, nowait = true })
  end
  map('u', function()
    adopt('step')
  end, 'stepwise: use this target for the step')
  map('f', function()
    adopt('fallback')
  end, "stepwise: add this target to the step's fallback list")
  map('q', '<cmd>close<cr>', 'close')
  M.last = { buf = buf, result = result, owner = owner }
  return buf
end

--- Sends the step (`{ step = ID }` or `{ position = … }`) of buffer `bufnr` to `targets`. A plain
--- request: `exec_cmd` would hand `stepwise.compareStep` back to the lens handler below.
function M.compare(bufnr, at, targets, rep)
  local stepwise = require('stepwise')
  local client = stepwise.client(bufnr)
  if not client then
    return vim.notify('stepwise: no stepwise language server attached to this buffer', vim.log.levels.ERROR)
  end
  local arg = vim.tbl_extend('force', { uri = vim.uri_from_bufnr(bufnr), targets = targets, ['repeat'] = rep }, at)
  local params = { command = stepwise.commands.compare, arguments = { arg } }
  client:request('workspace/executeCommand', params, function(err, result)
    vim.schedule(function()
      if err then
        return vim.notify('stepwise: compare failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      end
      if result then
        M.show(result, bufnr)
      end
    end)
  end, bufnr)
end

--- Asks which of the server's candidates to compare on (a toggle list: choose entries to mark
--- them, then "Compare"), then which persona, and calls `on_done(targets)`.
function M.pick(bufnr, at, on_done)
  local stepwise = require('stepwise')
  stepwise.execute(stepwise.commands.compare_targets, at, bufnr, function(err, c)
    if err or not c then
      return
    end
    local chosen = {}
    local function choose_persona(targets)
      local items = { '(each keeps the step’s persona)' }
      vim.list_extend(items, c.personas or {})
      vim.ui.select(items, { prompt = 'stepwise: persona for the comparison' }, function(_, idx)
        if not idx then
          return
        end
        for _, t in ipairs(targets) do
          t.persona = idx > 1 and items[idx] or nil
        end
        on_done(targets)
      end)
    end
    local function again()
      local items = { 'Compare the marked targets' }
      for i, t in ipairs(c.targets) do
        items[#items + 1] = (chosen[i] and '[x] ' or '[ ] ') .. t.label .. (t.current and ' (current)' or '')
      end
      vim.ui.select(items, { prompt = ('stepwise: compare `%s` on…'):format(c.step) }, function(_, idx)
        if not idx then
          return
        end
        if idx > 1 then
          chosen[idx - 1] = not chosen[idx - 1] or nil
          return again()
        end
        local targets = {}
        for i, t in ipairs(c.targets) do
          if chosen[i] then
            targets[#targets + 1] = { provider = t.provider, model = t.model }
          end
        end
        if #targets == 0 then
          return vim.notify('stepwise: mark at least one target', vim.log.levels.WARN)
        end
        choose_persona(targets)
      end)
    end
    vim.schedule(again)
  end)
end

--- `:StepwiseCompare [TARGET…] [repeat=N]` on the step at the cursor.
function M.command(fargs)
  local bufnr = vim.api.nvim_get_current_buf()
  local at = { position = require('stepwise').cursor_position(bufnr) }
  local targets, rep = {}, nil
  for _, a in ipairs(fargs or {}) do
    local n = a:match('^repeat=(%d+)$')
    if n then
      rep = tonumber(n)
    else
      local t, why = M.parse_target(a)
      if not t then
        return vim.notify('stepwise: ' .. why, vim.log.levels.ERROR)
      end
      targets[#targets + 1] = t
    end
  end
  if #targets > 0 then
    return M.compare(bufnr, at, targets, rep)
  end
  M.pick(bufnr, at, function(chosen)
    M.compare(bufnr, at, chosen, rep)
  end)
end

--- The `⇄ Compare` lens runs `stepwise.compareStep` without targets: ask for them here.
function M.lens_handler(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  local at = arg.step and { step = arg.step } or { position = arg.position }
  if arg.targets and #arg.targets > 0 then
    return M.compare(ctx.bufnr, at, arg.targets, arg['repeat'])
  end
  M.pick(ctx.bufnr, at, function(chosen)
    M.compare(ctx.bufnr, at, chosen, nil)
  end)
end

--- Wires the user command and the lens handler (called from setup()).
function M.setup()
  vim.api.nvim_create_user_command('StepwiseCompare', function(c)
    M.command(c.fargs)
  end, { nargs = '*', desc = 'stepwise: compare the step at the cursor across TARGET… (provider[/model][@persona])' })
  vim.lsp.commands[require('stepwise').commands.compare] = M.lens_handler
end

return M
