-- Workflow documents keep YAML syntax and ftplugins: the compound filetype `yaml.stepwise`
-- loads the `yaml` runtime files first, then any `stepwise` ones.
vim.filetype.add({
  pattern = {
    ['.*%.flow%.ya?ml'] = 'yaml.stepwise',
  },
})
