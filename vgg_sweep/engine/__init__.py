"""The sweep engine: one W&B sweep YAML, run by W&B's cloud agent or locally on Optuna.

Public surface: `load_spec` (read and validate a YAML), `grid_points`, `run_sweep` (the
local engine). The modules each hold one idea: `spec` (schema), `methods` (grid, random,
bayes as objects: plan, sampler, draw), `grid`, `distributions` (W&B's random sampler),
`bayes` (TPE search space), `hyperband` (W&B's stop rule), `storage` (scheme -> opener),
`work_queue` (claiming and retrying trials), `runner` (one trial), `worker`.
"""
