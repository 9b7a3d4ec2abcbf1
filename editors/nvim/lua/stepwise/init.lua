-- stepwise for Neovim >= 0.11: registers the `stepwise lsp` language server for workflow documents
-- (`*.flow.yaml`, `*.flow.yml`), turns on inlay hints and code lenses for them, and adds user commands
-- that run steps through the server's `workspace/executeCommand` commands. All logic lives in the
-- server; this file only wires Neovim to it.
local M = {}

M.defaults = {
  -- How to start the server. A string is taken as the path of the `stepwise` binary.
  cmd = { 'stepwise', 'lsp' },
  -- STEPWISE_LOG for the server (error, warn, info, debug, trace); nil leaves the environment alone.
  log_level = nil,
  -- Extra environment for the server, e.g. { OPENAI_BASE_URL = 'http://localhost:8080/v1' }.
  env = {},
  root_markers = { 'stepwise.toml', '.git' },
  -- Workflows and persona files (`yaml.stepwise`), `stepwise.toml` (`toml.stepwise`).
  filetypes = { 'yaml.stepwise', 'toml.stepwise' },
  inlay_hints = true,
  codelens = true,
  -- Show `$/progress` of runs with `vim.notify` (the `LspProgress` event is always fired by Neovim;
  -- statuslines can also read `require('stepwise').status()`).
  progress = true,
  settings = {},
  -- Extra fields merged into the `vim.lsp.config('stepwise', …)` table (capabilities, on_attach, …).
  lsp = {},
}

M.name = 'stepwise'
-- The server's executeCommand list (a Rust test fails when this one drifts from it).
M.commands = {
  run_step = 'stepwise.runStep',
  run_from = 'stepwise.runFrom',
  run_workflow = 'stepwise.runWorkflow',
  resume = 'stepwise.resume',
  cancel = 'stepwise.cancel',
  open_output = 'stepwise.openOutput',
  preview_request = 'stepwise.previewRequest',
  compare = 'stepwise.compareStep',
  compare_targets = 'stepwise.compareTargets',
  use_target = 'stepwise.useTarget',
  trust = 'stepwise.trustWorkspace',
  trust_status = 'stepwise.trustStatus',
}

local group = vim.api.nvim_create_augroup('stepwise', { clear = true })
M.options = nil
-- Latest progress message per progress token: { title, message, percentage, done }.
M._progress = {}

local function notify(msg, level)
  vim.notify('stepwise: ' .. msg, level or vim.log.levels.INFO)
end

--- The filetype rule (also in ftdetect/stepwise.lua, for `packadd` without `setup`).
function M.add_filetype()
  vim.filetype.add({
    filename = { ['stepwise.toml'] = 'toml.stepwise' },
    pattern = { ['.*%.flow%.ya?ml'] = 'yaml.stepwise', ['.*/personas/[^/]*%.ya?ml'] = 'yaml.stepwise' },
  })
  -- Tree-sitter users keep YAML and TOML highlighting for the compound filetypes.
  pcall(vim.treesitter.language.register, 'yaml', { 'yaml.stepwise', 'stepwise' })
  pcall(vim.treesitter.language.register, 'toml', { 'toml.stepwise' })
end

--- Whether a buffer name is a workflow document.
function M.is_workflow(name)
  return name:match('%.flow%.ya?ml$') ~= nil
end

--- The server executable when it cannot be found, else nil (a function `cmd` is not checked).
function M.missing_server(opts)
  local cmd = M.lsp_config(opts).cmd
  if type(cmd) == 'table' and cmd[1] and vim.fn.executable(cmd[1]) ~= 1 then
    return cmd[1]
  end
  return nil
end

--- Builds the `vim.lsp.config` table from options (exposed for tests).
function M.lsp_config(opts)
  local cmd = opts.cmd
  if type(cmd) == 'string' then
    cmd = { cmd, 'lsp' }
  end
  local env = vim.deepcopy(opts.env or {})
  if opts.log_level then
    env.STEPWISE_LOG = opts.log_level
  end
  return vim.tbl_deep_extend('force', {
    cmd = cmd,
    cmd_env = next(env) and env or nil,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    settings = opts.settings,
    -- Run lenses go through M.run, so they ask for missing inputs too.
    commands = require('stepwise.lens_runs').handlers(M),
  }, opts.lsp or {})
end

--- The stepwise client attached to a buffer (default: current), or nil.
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  return vim.lsp.get_clients({ bufnr = bufnr, name = M.name })[1]
end

--- The server's executeCommand list (empty before the handshake).
function M.server_commands(client)
  local caps = client and client.server_capabilities or {}
  return (caps.executeCommandProvider or {}).commands or {}
end

--- The cursor's position in a buffer, as LSP sends it: one-step commands send it and the server
--- decides which step is there.
function M.cursor_position(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local win = vim.fn.bufwinid(bufnr)
  local client = M.client(bufnr)
  local encoding = client and client.offset_encoding or 'utf-16'
  return vim.lsp.util.make_position_params(win ~= -1 and win or 0, encoding).position
end

--- `{ step = ID }` when the command names one, else `{ position = … }` of the cursor.
local function step_target(args)
  if not args.step then
    args.position = M.cursor_position(0)
  end
  return args
end

--- Parses `ID provider=P model=M persona=X` command arguments.
function M.parse_args(fargs)
  local out = {}
  for _, a in ipairs(fargs or {}) do
    local k, v = a:match('^(%w+)=(.*)$')
    if k then
      out[k] = v
    elseif not out.step then
      out.step = a
    end
  end
  return out
end

--- Sends one of the server's commands for a buffer. `args` is merged into `{ uri = … }`.
function M.execute(command, args, bufnr, on_result)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.client(bufnr)
  if not client then
    notify('no stepwise language server attached to this buffer (see :checkhealth stepwise)', vim.log.levels.ERROR)
    return false
  end
  if not vim.tbl_contains(M.server_commands(client), command) then
    notify(('this stepwise server does not offer %s yet (update stepwise)'):format(command), vim.log.levels.WARN)
    return false
  end
  local arg = vim.tbl_extend('force', { uri = vim.uri_from_bufnr(bufnr) }, args or {})
  -- A request, not client:exec_cmd: that would call the client-side handler of a run command
  -- (lens_runs.lua), which calls this again.
  local params = { command = command, arguments = { arg } }
  client:request('workspace/executeCommand', params, function(err, result)
    if err and not M.missing_inputs(err) then
      notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
    if on_result then
      on_result(err, result)
    end
    if M.options and M.options.codelens and vim.api.nvim_buf_is_valid(bufnr) then
      pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
    end
  end, bufnr)
  return true
end

--- The inputs a run was refused for (`error.data.missingInputs`: `{ name, description, lastValue }`), or nil.
function M.missing_inputs(err)
  local data = type(err) == 'table' and err.data
  local missing = type(data) == 'table' and data.missingInputs
  return type(missing) == 'table' and #missing > 0 and missing or nil
end

--- Asks for each input in `missing` with vim.ui.input (prefilled with the value last used), one
--- after another, then calls `on_done(values)`; nothing when one is cancelled.
local function ask_inputs(missing, values, on_done)
  local i = 0
  local function next_one()
    i = i + 1
    local input = missing[i]
    if not input then
      return on_done(values)
    end
    local description = input.description ~= vim.NIL and input.description or nil
    local last = input.lastValue ~= vim.NIL and input.lastValue or nil
    local prompt = ('%s%s: '):format(input.name, description and (' (' .. description .. ')') or '')
    vim.ui.input({ prompt = prompt, default = last }, function(value)
      if value == nil then
        notify(('run cancelled: input `%s` has no value'):format(input.name), vim.log.levels.WARN)
        return
      end
      values[input.name] = value
      next_one()
    end)
  end
  next_one()
end

--- Runs `command` for buffer `bufnr` (default: current); when the server answers that required
--- inputs are missing, asks for them and runs again with them.
function M.run(command, args, bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local function attempt(a)
    return M.execute(command, a, bufnr, function(err)
      local missing = M.missing_inputs(err)
      if missing then
        vim.schedule(function()
          ask_inputs(missing, vim.deepcopy(a.inputs or {}), function(values)
            attempt(vim.tbl_extend('force', a, { inputs = values }))
          end)
        end)
      end
    end)
  end
  return attempt(args)
end

function M.run_step(fargs)
  return M.run(M.commands.run_step, step_target(M.parse_args(fargs)))
end

function M.run_from(fargs)
  return M.run(M.commands.run_from, step_target(M.parse_args(fargs)))
end

function M.run_workflow()
  return M.run(M.commands.run_workflow, {})
end

function M.resume()
  return M.run(M.commands.resume, {})
end

function M.cancel()
  return M.execute(M.commands.cancel, {})
end

--- Asks the server to trust this buffer's workspace: it names every host and key variable the
--- workspace's stepwise.toml would be allowed, asks (vim.ui.select), and records trust as
--- `stepwise trust` does.
function M.trust()
  return M.execute(M.commands.trust, {}, 0, function(err, result)
    if not err and result then
      if result.trusted then
        notify('workspace trusted: ' .. tostring(result.root))
      else
        notify('workspace not trusted: ' .. tostring(result.root), vim.log.levels.WARN)
      end
    end
  end)
end

--- Whether the workspace of `bufnr` is trusted: `{ root, trusted, grantedBy, lapsed, needs }`, or nil.
function M.trust_status(bufnr)
  local client = M.client(bufnr)
  if not client or not vim.tbl_contains(M.server_commands(client), M.commands.trust_status) then
    return nil
  end
  local resp = client:request_sync('workspace/executeCommand', {
    command = M.commands.trust_status,
    arguments = { { uri = vim.uri_from_bufnr(bufnr) } },
  }, 2000, bufnr)
  return resp and resp.result or nil
end

--- Shows what `stepwise.openOutput` returns: a location/URI is opened, text goes to a scratch split.
local function show_output(result, step)
  if result == nil or result == vim.NIL then
    return -- the server showed it itself (window/showDocument)
  end
  local uri = type(result) == 'table' and (result.uri or result.targetUri) or nil
  if type(result) == 'string' and result:match('^%a[%w+.-]*://') then
    uri = result
  end
  if uri then
    vim.cmd.split(vim.fn.fnameescape(vim.uri_to_fname(uri)))
    return
  end
  -- The server answers { step, status, answered_by, output, error }.
  local function str(v)
    return v ~= nil and v ~= vim.NIL and v or nil
  end
  if type(result) == 'table' and not str(result.output) and not str(result.text) and not str(result.outputs) then
    local what = ('step `%s`'):format(str(result.step) or step or '?')
    if str(result.error) then
      notify(('%s failed: %s'):format(what, result.error), vim.log.levels.WARN)
      return
    elseif result.output ~= nil then
      notify(what .. ' has no output yet: run it first (:StepwiseRunStep)')
      return
    end
  end
  local text = type(result) == 'string' and result
    or (type(result) == 'table' and (str(result.output) or str(result.text) or str(result.outputs)))
    or vim.inspect(result)
  if type(text) == 'table' then
    text = table.concat(vim.tbl_map(tostring, text), '\n\n')
  end
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  pcall(vim.api.nvim_buf_set_name, buf, 'stepwise://output/' .. (step or 'workflow'))
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(tostring(text), '\n', { plain = true }))
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'markdown'
end

function M.open_output(fargs)
  local args = step_target(M.parse_args(fargs))
  local uri = vim.uri_from_bufnr(0)
  return M.execute(M.commands.open_output, args, 0, function(err, result)
    if not err then
      vim.schedule(function()
        if not require('stepwise.runs').open_live(uri, result) then
          show_output(result, args.step)
        end
      end)
    end
  end)
end

--- One line for a statusline: the run in progress, or ''.
function M.status()
  local parts = {}
  for _, p in pairs(M._progress) do
    if not p.done then
      local s = p.title or 'stepwise'
      if p.message and p.message ~= '' then
        s = s .. ': ' .. p.message
      end
      if p.percentage then
        s = s .. (' (%d%%)'):format(p.percentage)
      end
      parts[#parts + 1] = s
    end
  end
  return table.concat(parts, ' | ')
end

local function on_progress(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  if not client or client.name ~= M.name then
    return
  end
  local params = ev.data.params or {}
  local value = params.value or {}
  local token = tostring(params.token)
  local p = M._progress[token] or {}
  if value.kind == 'begin' then
    p = { title = value.title }
  end
  p.message = value.message or p.message
  p.percentage = value.percentage or p.percentage
  p.done = value.kind == 'end'
  M._progress[token] = p
  if M.options and M.options.progress then
    local msg = p.title or 'run'
    if p.message and p.message ~= '' then
      msg = msg .. ': ' .. p.message
    end
    if p.percentage then
      msg = msg .. (' (%d%%)'):format(p.percentage)
    end
    if p.done then
      msg = msg .. ' — done'
    end
    local prefix = msg:match('^stepwise') and '' or 'stepwise: '
    vim.api.nvim_echo({ { prefix .. msg } }, false, {})
  end
  if p.done then
    M._progress[token] = nil
    if M.options and M.options.codelens then
      for _, buf in ipairs(vim.lsp.get_buffers_by_client_id(client.id)) do
        pcall(vim.lsp.codelens.refresh, { bufnr = buf })
      end
    end
  end
  vim.cmd.redrawstatus({ bang = true, mods = { silent = true, emsg_silent = true } })
end

local function on_attach(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  if not client or client.name ~= M.name then
    return
  end
  local bufnr = ev.buf
  local opts = M.options or M.defaults
  if opts.inlay_hints and client:supports_method('textDocument/inlayHint') then
    vim.lsp.inlay_hint.enable(true, { bufnr = bufnr })
  end
  if opts.codelens and client:supports_method('textDocument/codeLens') then
    pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
    vim.api.nvim_create_autocmd({ 'BufEnter', 'InsertLeave', 'BufWritePost' }, {
      group = group,
      buffer = bufnr,
      callback = function()
        pcall(vim.lsp.codelens.refresh, { bufnr = bufnr })
      end,
    })
  end
end

local user_commands = {
  StepwiseRunStep = {
    function(c)
      M.run_step(c.fargs)
    end,
    { nargs = '*', desc = 'stepwise: run the step at the cursor (or ID) [provider=P model=M persona=X]' },
  },
  StepwiseRunFrom = {
    function(c)
      M.run_from(c.fargs)
    end,
    { nargs = '*', desc = 'stepwise: run the step at the cursor (or ID) and everything downstream' },
  },
  StepwiseRunWorkflow = {
    function()
      M.run_workflow()
    end,
    { desc = 'stepwise: run the whole workflow' },
  },
  StepwiseResume = {
    function()
      M.resume()
    end,
    { desc = 'stepwise: resume pending, failed and stale steps' },
  },
  StepwiseCancel = {
    function()
      M.cancel()
    end,
    { desc = 'stepwise: cancel the run in progress' },
  },
  StepwiseTrust = {
    function()
      M.trust()
    end,
    { desc = "stepwise: trust this workspace's stepwise.toml (asks first, naming hosts and key variables)" },
  },
  StepwiseRuns = {
    function()
      require('stepwise.runs').open()
    end,
    { desc = "stepwise: the workflow's runs, steps and attempts in a buffer" },
  },
  StepwiseOutput = {
    function(c)
      M.open_output(c.fargs)
    end,
    { nargs = '?', desc = 'stepwise: open the last output of the step at the cursor (or ID)' },
  },
}

function M.setup(opts)
  if vim.fn.has('nvim-0.11') ~= 1 then
    notify('needs Neovim >= 0.11 (vim.lsp.config)', vim.log.levels.ERROR)
    return
  end
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.cmd then
    M.options.cmd = opts.cmd -- a list replaces the default list, never merges into it
  end
  M.add_filetype()

  vim.lsp.config(M.name, M.lsp_config(M.options))
  vim.lsp.enable(M.name)
  -- A template reference to a missing step or input (semantic token modifier `unknown`); a
  -- colour scheme or the user may set their own.
  vim.api.nvim_set_hl(0, '@lsp.mod.unknown', { default = true, link = 'DiagnosticUnderlineError' })

  vim.api.nvim_clear_autocmds({ group = group })
  vim.api.nvim_create_autocmd('LspAttach', { group = group, callback = on_attach })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = on_progress })
  require('stepwise.runs').setup()
  -- Without the server a workflow would open with no features and no word why: say so once.
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.options.filetypes,
    once = true,
    callback = function()
      local missing = M.missing_server(M.options)
      if missing then
        notify(
          ('language server `%s` not found: install it with `cargo install --path .` in a stepwise checkout, '
            .. 'or set `cmd` in setup() (:checkhealth stepwise)'):format(missing),
          vim.log.levels.WARN
        )
      end
    end,
  })
  for name, def in pairs(user_commands) do
    vim.api.nvim_create_user_command(name, def[1], def[2])
  end
  require('stepwise.preview').setup(M)
  require('stepwise.compare').setup()

  -- Loaded late (lazy.nvim `ft = 'yaml'`, or setup after the file was opened): re-detect open
  -- workflow buffers so they get the filetype, and with it the server.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and M.is_workflow(vim.api.nvim_buf_get_name(buf)) then
      if vim.bo[buf].filetype ~= 'yaml.stepwise' then
        vim.bo[buf].filetype = 'yaml.stepwise'
      elseif #vim.lsp.get_clients({ bufnr = buf, name = M.name }) == 0 then
        vim.api.nvim_exec_autocmds('FileType', { buffer = buf, modeline = false })
      end
    end
  end
end

return M
