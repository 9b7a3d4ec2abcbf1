-- Default configuration for `vim.lsp.enable('stepwise')` (Neovim >= 0.11 reads `lsp/*.lua` from the
-- runtimepath). `require('stepwise').setup(opts)` layers the user's options over these.
return {
  cmd = { 'stepwise', 'lsp' },
  filetypes = { 'yaml.stepwise', 'toml.stepwise' },
  root_markers = { 'stepwise.toml', '.git' },
}
