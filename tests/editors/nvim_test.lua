-- Headless Neovim test of editors/nvim, run by tests/editors/nvim.sh:
--   nvim --headless --clean -S tests/editors/nvim_test.lua
-- Environment: STEPWISE_PACKROOT (a packpath entry holding pack/stepwise/opt/stepwise -> editors/nvim),
-- STEPWISE_EXAMPLES (a temp copy of examples/), STEPWISE_FAKE_URL (fake OpenAI base URL), and
-- `stepwise` on PATH. Exit code = number of failures.
local T = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/nvim_harness.lua')
local log, check, skip, label_text = T.log, T.check, T.skip, T.label_text

local function find_line(buf, pat)
  for i, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if l:match(pat) then
      return i - 1, l
    end
  end
end

local function main()
  local t0 = vim.uv.hrtime()
  local examples = assert(os.getenv('STEPWISE_EXAMPLES'), 'STEPWISE_EXAMPLES not set')
  local fake_url = os.getenv('STEPWISE_FAKE_URL')

  -- Load the plugin the way a user's config does: packadd + setup.
  vim.opt.packpath:prepend(assert(os.getenv('STEPWISE_PACKROOT')))
  vim.cmd.packadd('stepwise')
  local stepwise = require('stepwise')
  local env = { OPENAI_API_KEY = 'sk-test-not-a-real-key' }
  if fake_url then
    env.OPENAI_BASE_URL = fake_url
  end
  stepwise.setup({ log_level = 'info', env = env, progress = true })

  check('filetype rule: x.flow.yml', vim.filetype.match({ filename = 'x.flow.yml' }) == 'yaml.stepwise')
  check('plain yaml stays yaml', vim.filetype.match({ filename = 'x.yaml' }) == 'yaml')

  local progress = {}
  vim.api.nvim_create_autocmd('LspProgress', {
    callback = function(ev)
      progress[#progress + 1] = ev.data.params.value
    end,
  })

  vim.cmd.edit(vim.fn.fnameescape(examples .. '/launch-brief.flow.yaml'))
  local buf = vim.api.nvim_get_current_buf()
  check('filetype is yaml.stepwise', vim.bo[buf].filetype == 'yaml.stepwise', vim.bo[buf].filetype)
  check('YAML syntax still applies', vim.b[buf].current_syntax == 'yaml', tostring(vim.b[buf].current_syntax))

  -- Handshake (stop waiting if the client died).
  local client
  vim.wait(10000, function()
    client = stepwise.client(buf)
    return client ~= nil and (client.initialized or client:is_stopped())
  end, 10)
  if not check('client attached and initialized', client ~= nil and client.initialized and not client:is_stopped()) then
    return
  end
  check('root dir is the folder of stepwise.toml', client.root_dir == vim.fs.normalize(examples), tostring(client.root_dir))
  log(('     handshake after %d ms'):format((vim.uv.hrtime() - t0) / 1e6))

  -- Inlay hints: enabled by the plugin; the effective provider/model and persona with their source.
  check('inlay hints enabled for the buffer', vim.lsp.inlay_hint.is_enabled({ bufnr = buf }))
  local labels = {}
  vim.wait(5000, function()
    labels = {}
    for _, h in ipairs(vim.lsp.inlay_hint.get({ bufnr = buf })) do
      labels[#labels + 1] = label_text(h.inlay_hint.label)
    end
    return #labels >= 4
  end, 20)
  local joined = table.concat(labels, '\n')
  check('inlay hint: step override', joined:find('openai/gpt-4o (step) · creative-marketer (step)', 1, true) ~= nil, joined)
  check(
    'inlay hint: workflow defaults',
    joined:find('anthropic/claude-sonnet-4-5 (workflow) · concise-analyst (workflow)', 1, true) ~= nil,
    joined
  )

  -- Semantic tokens inside prompts: Neovim asks for them on its own; an unknown step is marked.
  local function token_at(row, col)
    for _, t in ipairs(vim.lsp.semantic_tokens.get_at_pos(buf, row, col) or {}) do
      if t.type ~= nil then
        return t
      end
    end
  end
  local sl, stext = find_line(buf, 'Summarize {{ inputs.product }}')
  local pcol = stext:find('product }}', 1, true) - 1
  local tok
  vim.wait(5000, function()
    tok = token_at(sl, pcol)
    return tok ~= nil
  end, 20)
  check('semantic token: input name in a prompt is a parameter', tok ~= nil and tok.type == 'parameter', vim.inspect(tok))
  local dl, dtext = find_line(buf, '{{ steps.draft.output }}')
  vim.api.nvim_buf_set_lines(buf, dl, dl + 1, false, { (dtext:gsub('steps%.draft%.', 'steps.draftt.')) })
  local dcol = dtext:find('draft.output', 1, true) - 1
  local unknown
  vim.wait(5000, function()
    unknown = token_at(dl, dcol)
    return unknown ~= nil and unknown.modifiers.unknown == true
  end, 20)
  check('semantic token: an unknown step is marked unknown', unknown ~= nil and unknown.modifiers.unknown == true, vim.inspect(unknown))
  local hl = vim.api.nvim_get_hl(0, { name = '@lsp.mod.unknown', link = true })
  check('unknown references have a highlight of their own', hl.link ~= nil, vim.inspect(hl))
  vim.api.nvim_buf_set_lines(buf, dl, dl + 1, false, { dtext })

  -- Diagnostics for a broken line, while typing (no save).
  local pl = find_line(buf, '^    provider: openai$')
  vim.api.nvim_buf_set_lines(buf, pl, pl + 1, false, { '    provider: opnai' })
  local diag
  vim.wait(5000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == 'unknown-provider' then
        diag = d
        return true
      end
    end
  end, 10)
  check('diagnostic unknown-provider for the broken line', diag ~= nil and diag.lnum == pl, diag and vim.inspect(diag))
  check('diagnostic is an error', diag ~= nil and diag.severity == vim.diagnostic.severity.ERROR)
  vim.api.nvim_buf_set_lines(buf, pl, pl + 1, false, { '    provider: openai' })
  local cleared = vim.wait(5000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == 'unknown-provider' then
        return false
      end
    end
    return true
  end, 10)
  check('diagnostic clears when fixed', cleared)

  -- Completion at `provider: `.
  vim.api.nvim_buf_set_lines(buf, pl, pl + 1, false, { '    provider: ' })
  vim.api.nvim_win_set_cursor(0, { pl + 1, #'    provider: ' })
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local resp = vim.lsp.buf_request_sync(buf, 'textDocument/completion', params, 5000) or {}
  local items = {}
  for _, r in pairs(resp) do
    local result = r.result or {}
    for _, it in ipairs(result.items or result) do
      items[it.label] = true
    end
  end
  local missing = {}
  for _, p in ipairs({ 'anthropic', 'openai', 'google', 'ollama', 'groq' }) do
    if not items[p] then
      missing[#missing + 1] = p
    end
  end
  check('completion at `provider: ` lists providers', #missing == 0, 'missing ' .. table.concat(missing, ', '))
  vim.api.nvim_buf_set_lines(buf, pl, pl + 1, false, { '    provider: openai' })

  -- Code actions on a step.
  local cmds = stepwise.server_commands(client)
  local sl = find_line(buf, '^  %- id: summarize')
  if client.server_capabilities.codeActionProvider then
    local ca = vim.lsp.buf_request_sync(buf, 'textDocument/codeAction', {
      textDocument = { uri = vim.uri_from_bufnr(buf) },
      range = { start = { line = sl, character = 8 }, ['end'] = { line = sl, character = 8 } },
      context = { diagnostics = {} },
    }, 5000) or {}
    local titles = {}
    for _, r in pairs(ca) do
      for _, a in ipairs(r.result or {}) do
        titles[#titles + 1] = a.title
      end
    end
    local has = false
    for _, t in ipairs(titles) do
      has = has or t:match('^Run step') ~= nil
    end
    check('code actions contain Run step', has, table.concat(titles, ' | '))
  else
    skip('code actions contain Run step', 'the server does not offer code actions yet')
  end

  -- Code lenses (refreshed by the plugin) above each step.
  if client.server_capabilities.codeLensProvider then
    local lenses = {}
    vim.wait(5000, function()
      lenses = vim.lsp.codelens.get(buf)
      return #lenses >= 4
    end, 20)
    local titles = vim.tbl_map(function(l)
      return l.command and l.command.title or ''
    end, lenses)
    check('code lenses shown on every step (▶ Run)', #lenses >= 4 and vim.tbl_contains(titles, '▶ Run'), table.concat(titles, ' | '))
  else
    skip('code lenses', 'the server does not offer code lenses yet')
  end

  -- User commands.
  for _, name in ipairs({ 'StepwiseRunStep', 'StepwiseRunFrom', 'StepwiseRunWorkflow', 'StepwiseResume', 'StepwiseCancel', 'StepwiseOutput' }) do
    check(':' .. name .. ' exists', vim.fn.exists(':' .. name) == 2)
  end

  -- Running a step against the local fake provider updates the hint.
  if vim.tbl_contains(cmds, 'stepwise.runStep') and fake_url then
    vim.api.nvim_win_set_cursor(0, { sl + 2, 0 })
    local before = #progress
    vim.cmd('StepwiseRunStep provider=openai model=gpt-4o')
    local hint
    local ok = vim.wait(20000, function()
      for _, h in ipairs(vim.lsp.inlay_hint.get({ bufnr = buf })) do
        local l = label_text(h.inlay_hint.label)
        if h.inlay_hint.position.line <= sl + 1 and l:find('✓', 1, true) then
          hint = l
          return true
        end
      end
    end, 50)
    check('running a step updates its hint (✓)', ok, hint)
    check('$/progress reached LspProgress', #progress > before, ('%d events'):format(#progress - before))
    -- The lens above the step now shows its result; :StepwiseOutput opens the answer.
    local lens_ok = vim.wait(5000, function()
      for _, l in ipairs(vim.lsp.codelens.get(buf)) do
        if l.range.start.line == sl and l.command and l.command.title:find('Re-run', 1, true) then
          return true
        end
      end
    end, 20)
    check('code lens turns into Re-run after the run', lens_ok)
    -- The result lens ends in the run's cost (openai/gpt-4o at its catalog price).
    local cost_title = ''
    local cost_ok = vim.wait(5000, function()
      for _, l in ipairs(vim.lsp.codelens.get(buf)) do
        local title = l.command and l.command.title or ''
        if l.range.start.line == sl and title:find('✓', 1, true) then
          cost_title = title
          return title:find(' tok · $', 1, true) ~= nil
        end
      end
    end, 20)
    check('the result lens shows the cost ($)', cost_ok, cost_title)
    local wins = #vim.api.nvim_list_wins()
    vim.cmd('StepwiseOutput')
    local shown = vim.wait(5000, function()
      return #vim.api.nvim_list_wins() > wins
    end, 10)
    local text = shown and table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') or ''
    check(':StepwiseOutput shows the fake answer', text:find('Fake answer', 1, true) ~= nil, text)
    if shown then
      vim.cmd.close()
    end
  elseif not vim.tbl_contains(cmds, 'stepwise.runStep') then
    skip('running a step updates its hint', 'the server does not list stepwise.runStep in executeCommandProvider yet')
    -- The command degrades to a warning, not an error.
    check(':StepwiseRunStep without server support is harmless', pcall(vim.cmd, 'StepwiseRunStep'))
  else
    skip('running a step updates its hint', 'no fake provider (STEPWISE_FAKE_URL)')
  end

  -- Late setup (lazy.nvim with `ft = 'yaml'`): a workflow already open as plain `yaml` is re-detected
  -- by setup() and gets the server.
  vim.cmd.edit(vim.fn.fnameescape(examples .. '/support-triage.flow.yaml'))
  local late = vim.api.nvim_get_current_buf()
  vim.bo[late].filetype = 'yaml'
  stepwise.setup({ log_level = 'info', env = env, progress = true })
  local late_ok = vim.wait(5000, function()
    local c = stepwise.client(late)
    return c ~= nil and c.initialized
  end, 10)
  check('late setup re-detects an open workflow and attaches', late_ok and vim.bo[late].filetype == 'yaml.stepwise', vim.bo[late].filetype)
  check('one client for the workspace', #vim.lsp.get_clients({ name = 'stepwise' }) == 1, tostring(#vim.lsp.get_clients({ name = 'stepwise' })))

  -- A workflow with a required input: the run asks for it with vim.ui.input, then runs with it.
  if fake_url and late_ok then
    local asked_inputs = {}
    local input = vim.ui.input
    vim.ui.input = function(opts, on_confirm)
      asked_inputs[#asked_inputs + 1] = opts.prompt
      on_confirm('my skates squeak')
    end
    local cl = find_line(late, '^  %- id: classify')
    vim.cmd('StepwiseRunStep classify')
    local ran = vim.wait(20000, function()
      for _, h in ipairs(vim.lsp.inlay_hint.get({ bufnr = late })) do
        if h.inlay_hint.position.line <= cl + 1 and label_text(h.inlay_hint.label):find('✓', 1, true) then
          return true
        end
      end
    end, 50)
    vim.ui.input = input
    check(
      'a run missing a required input asks for it (vim.ui.input) and runs with it',
      ran and #asked_inputs == 1 and asked_inputs[1]:find("message (The customer's message", 1, true) ~= nil,
      vim.inspect(asked_inputs)
    )
  end
  vim.cmd.buffer(buf)

  -- :checkhealth stepwise
  vim.cmd('checkhealth stepwise')
  local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  check('checkhealth stepwise has no ERROR', health:find('stepwise') ~= nil and not health:find('ERROR'), health)
  check('checkhealth finds the server', health:find('server found', 1, true) ~= nil, health)
  check('checkhealth says whether the workspace is trusted', health:find('is not trusted; its stepwise.toml needs no trust', 1, true) ~= nil, health)
  vim.cmd('tabclose')

  -- :StepwiseTrust asks (the server's showMessageRequest through vim.ui.select), then records trust.
  local asked
  local select = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    asked = opts.prompt
    for i, item in ipairs(items) do
      if (type(item) == 'table' and item.title or item) == 'Trust' then
        return on_choice(item, i)
      end
    end
    on_choice(nil, nil)
  end
  vim.cmd('StepwiseTrust')
  local trusted = vim.wait(5000, function()
    local t = stepwise.trust_status(buf)
    return t ~= nil and t.trusted
  end, 50)
  vim.ui.select = select
  check(':StepwiseTrust asks and records trust', trusted and asked ~= nil and asked:find('Trust the workspace', 1, true) ~= nil, tostring(asked))
  vim.cmd('checkhealth stepwise')
  health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  check('checkhealth says the workspace is trusted', health:find('is trusted (stepwise trust)', 1, true) ~= nil, health)
  vim.cmd('tabclose')

  client:stop()
  vim.wait(3000, function()
    return client:is_stopped()
  end, 10)

  -- Without the server, opening a workflow says so once, with the install command.
  local notes = {}
  local real_notify = vim.notify
  vim.notify = function(msg, level)
    notes[#notes + 1] = { msg = msg, level = level }
  end
  stepwise.setup({ cmd = { 'no-such-stepwise-binary', 'lsp' } })
  vim.cmd.edit(vim.fn.fnameescape(examples .. '/release-notes.flow.yaml'))
  vim.cmd.edit(vim.fn.fnameescape(examples .. '/personas/../launch-brief.flow.yaml'))
  vim.notify = real_notify
  local missing = vim.tbl_filter(function(n)
    return n.msg:find('no-such-stepwise-binary', 1, true) ~= nil
  end, notes)
  check(
    'a missing server is announced once, with the install command',
    #missing == 1 and missing[1].msg:find('cargo install', 1, true) ~= nil and missing[1].level == vim.log.levels.WARN,
    vim.inspect(notes)
  )
  log(('     whole test %d ms'):format((vim.uv.hrtime() - t0) / 1e6))
end

T.run('nvim', main)
