-- Request preview: the exact request a step would send now (`stepwise.previewRequest`), in a
-- read-only scratch buffer beside the workflow, refreshed as the workflow is edited. In the
-- preview buffer `yc` (or :StepwisePreviewCurl) copies its curl line (key as $VARIABLE) to a register.
local P = {}

-- Preview buffers by number: { source = workflow bufnr, step = ID, args = overrides, curl = line }.
P.previews = {}
-- Milliseconds to wait after the last edit before refreshing.
P.debounce_ms = 200

local function notify(msg, level)
  vim.notify('stepwise: ' .. msg, level or vim.log.levels.INFO)
end

--- The preview buffer showing `step` of `source`, if there is one.
local function find(source, step)
  for buf, p in pairs(P.previews) do
    if p.source == source and p.step == step and vim.api.nvim_buf_is_valid(buf) then
      return buf
    end
  end
end

local function set_text(buf, text)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
end

--- A new read-only scratch buffer in a vertical split beside the workflow's window.
local function new_buffer(source, step)
  local win = vim.fn.bufwinid(source)
  if win ~= -1 then
    vim.api.nvim_set_current_win(win)
  end
  vim.cmd('rightbelow vnew')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  pcall(vim.api.nvim_buf_set_name, buf, 'stepwise://preview/' .. step)
  vim.keymap.set('n', 'yc', function()
    P.copy_curl(buf)
  end, { buffer = buf, desc = 'stepwise: copy the request as curl' })
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      P.previews[buf] = nil
    end,
  })
  return buf
end

--- Asks the server for the preview (a request, not `exec_cmd`: this module handles that
--- command for code lenses) and calls `on_done(err, result)`.
local function request(stepwise, source, args, on_done)
  local client = stepwise.client(source)
  if not client then
    notify('no stepwise language server attached to this buffer', vim.log.levels.ERROR)
    return false
  end
  local command = stepwise.commands.preview_request
  if not vim.tbl_contains(stepwise.server_commands(client), command) then
    notify(('this stepwise server does not offer %s yet (update stepwise)'):format(command), vim.log.levels.WARN)
    return false
  end
  local arg = vim.tbl_extend('force', { uri = vim.uri_from_bufnr(source) }, args)
  -- With the buffer given, pending edits reach the server before the request.
  client:request('workspace/executeCommand', { command = command, arguments = { arg } }, function(err, result)
    vim.schedule(function()
      on_done(err, result)
    end)
  end, source)
  return true
end

--- Shows the server's answer in preview buffer `buf`: the preview, or why there is none.
local function show(buf, err, result)
  local p = P.previews[buf]
  if not p or not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  if err then
    set_text(buf, ('# Request preview: step `%s`\n\nNo request: %s'):format(p.step, err.message or vim.inspect(err)))
    return
  end
  p.curl = result.curl
  set_text(buf, result.text)
end

--- Refreshes every preview of workflow buffer `source`.
function P.refresh(stepwise, source)
  for buf, p in pairs(P.previews) do
    if p.source == source and vim.api.nvim_buf_is_valid(buf) then
      local args = vim.tbl_extend('force', p.args, { step = p.step })
      request(stepwise, source, args, function(err, result)
        show(buf, err, result)
      end)
    end
  end
end

--- Refreshes the previews of `source` after each edit, once edits pause.
local function follow(stepwise, source)
  if vim.b[source].stepwise_preview_follows then
    return
  end
  vim.b[source].stepwise_preview_follows = true
  local timer = vim.uv.new_timer()
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'TextChangedP' }, {
    buffer = source,
    callback = function()
      timer:stop()
      timer:start(P.debounce_ms, 0, vim.schedule_wrap(function()
        if vim.api.nvim_buf_is_valid(source) then
          P.refresh(stepwise, source)
        end
      end))
    end,
  })
end

--- Opens (or refreshes) the preview of the step `args.step`, or of the step at the cursor,
--- for workflow buffer `source` (default: current).
function P.open(stepwise, args, source)
  source = (source == nil or source == 0) and vim.api.nvim_get_current_buf() or source
  if not args.step then
    args.position = stepwise.cursor_position(source)
  end
  return request(stepwise, source, args, function(err, result)
    if err then
      notify('no preview: ' .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
      return
    end
    local step = result.step
    local buf = find(source, step) or new_buffer(source, step)
    local overrides = {}
    for _, k in ipairs({ 'provider', 'model', 'persona' }) do
      overrides[k] = args[k]
    end
    P.previews[buf] = { source = source, step = step, args = overrides }
    show(buf, nil, result)
    follow(stepwise, source)
  end)
end

--- Copies the curl line of preview buffer `buf` (default: current) to `register` (default:
--- the unnamed register and, when there is a clipboard, `+`).
function P.copy_curl(buf, register)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  local p = P.previews[buf]
  if not p or not p.curl then
    notify('not a request preview (open one with :StepwisePreview)', vim.log.levels.WARN)
    return false
  end
  vim.fn.setreg(register or '"', p.curl)
  if not register and vim.fn.has('clipboard') == 1 then
    pcall(vim.fn.setreg, '+', p.curl)
  end
  notify('copied the request as curl')
  return true
end

--- Wires the preview into the plugin: the user commands, and the code lens / code action
--- command opening the preview instead of a bare executeCommand.
function P.setup(stepwise)
  vim.lsp.commands[stepwise.commands.preview_request] = function(command, ctx)
    local arg = (command.arguments or {})[1] or {}
    P.open(stepwise, { step = arg.step }, ctx.bufnr)
  end
  vim.api.nvim_create_user_command('StepwisePreview', function(c)
    P.open(stepwise, stepwise.parse_args(c.fargs))
  end, { nargs = '*', desc = 'stepwise: preview the request of the step at the cursor (or ID) [provider=P model=M persona=X]' })
  vim.api.nvim_create_user_command('StepwisePreviewCurl', function(c)
    P.copy_curl(0, c.args ~= '' and c.args or nil)
  end, { nargs = '?', desc = 'stepwise: copy the previewed request as curl (to REGISTER)' })
end

return P
