-- :checkhealth stepwise
local M = {}

function M.check()
  local h = vim.health
  local stepwise = require('stepwise')

  h.start('stepwise: Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    h.ok('Neovim ' .. tostring(vim.version()) .. ' (>= 0.11: vim.lsp.config, inlay hints)')
  else
    h.error('Neovim >= 0.11 is required', { 'Install Neovim 0.11 or newer' })
  end

  h.start('stepwise: setup')
  local opts = stepwise.options
  if not opts then
    h.warn("require('stepwise').setup() has not been called", {
      "Add `require('stepwise').setup({})` to your config (lazy.nvim: `opts = {}`)",
    })
    opts = stepwise.defaults
  else
    h.ok('setup() called; server configured as vim.lsp.config.stepwise')
  end
  local ft = vim.filetype.match({ filename = 'x.flow.yaml' })
  if ft == 'yaml.stepwise' then
    h.ok('*.flow.yaml and *.flow.yml get filetype yaml.stepwise')
  else
    h.warn('*.flow.yaml is detected as ' .. tostring(ft) .. ', not yaml.stepwise', {
      'Call setup(), or make sure ftdetect/ of the plugin is on the runtimepath',
    })
  end

  h.start('stepwise: language server')
  local cmd = type(opts.cmd) == 'string' and { opts.cmd, 'lsp' } or opts.cmd
  if type(cmd) ~= 'table' or not cmd[1] then
    h.info('cmd is a function: not checked')
  elseif vim.fn.executable(cmd[1]) == 1 then
    local path = vim.fn.exepath(cmd[1])
    local ok, res = pcall(function()
      return vim.system({ path, '--version' }, { text = true }):wait(3000)
    end)
    local version = ok and res and res.code == 0 and vim.trim(res.stdout or '') or '(version unknown)'
    local where = path == cmd[1] and path or ('%s (%s)'):format(cmd[1], path)
    h.ok(('server found: %s, %s'):format(where, version))
  else
    h.error(('`%s` not found on PATH'):format(cmd[1]), {
      'Install the server from the stepwise repository: cargo install --path .',
      "or point the plugin at it: require('stepwise').setup({ cmd = { '/path/to/stepwise', 'lsp' } })",
    })
  end

  local clients = vim.lsp.get_clients({ name = stepwise.name })
  if #clients == 0 then
    h.info('no stepwise client running (open a *.flow.yaml file to start one)')
  end
  for _, client in ipairs(clients) do
    h.ok(('client %d running, root %s, %d buffer(s)'):format(
      client.id,
      client.root_dir or '(none)',
      #vim.lsp.get_buffers_by_client_id(client.id)
    ))
    for _, bufnr in ipairs(vim.lsp.get_buffers_by_client_id(client.id)) do
      local trust = stepwise.trust_status(bufnr)
      if trust and trust.trusted then
        h.ok(('workspace %s is trusted (%s)'):format(trust.root, trust.grantedBy))
      elseif trust and #(trust.needs or {}) == 0 then
        h.ok(('workspace %s is not trusted; its stepwise.toml needs no trust'):format(trust.root))
      elseif trust then
        h.warn(('workspace %s is not trusted%s: %s'):format(
          trust.root,
          trust.lapsed and ' (stepwise.toml changed since it was trusted)' or '',
          table.concat(trust.needs, '; ')
        ), { ':StepwiseTrust (or `stepwise trust` in a terminal) if you trust this repository' })
      end
      break
    end
    local cmds = stepwise.server_commands(client)
    if #cmds > 0 then
      h.ok('server commands: ' .. table.concat(cmds, ', '))
    else
      h.warn('the server offers no run commands: :StepwiseRunStep and friends are unavailable', {
        'Update stepwise (cargo install --path .)',
      })
    end
  end
end

return M
