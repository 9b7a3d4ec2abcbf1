-- Workflow documents keep YAML syntax and ftplugins: the compound filetype `yaml.stepwise`
-- loads the `yaml` runtime files first, then any `stepwise` ones. `stepwise.toml` and the
-- persona library (`personas/*.yaml`) get the server too (`toml.stepwise`, `yaml.stepwise`).
vim.filetype.add({
  filename = {
    ['stepwise.toml'] = 'toml.stepwise',
  },
  pattern = {
    ['.*%.flow%.ya?ml'] = 'yaml.stepwise',
    ['.*/personas/[^/]*%.ya?ml'] = 'yaml.stepwise',
  },
})
