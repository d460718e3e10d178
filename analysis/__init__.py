"""Analysis of sweeps: run tables from any source, group statistics, lints, plots, reports.

Depends on the run-record format only (never on torch or the trainer), so `vgg-sweep report`
starts fast and runs where torch is not installed. Modules, one idea each:

- `runs`: the tidy run table and its column types;
- `sources`, `wandb_csv`: where runs come from (runs directory, W&B API, CSV export);
- `stats`, `importance`, `rerun`: the numbers;
- `lints`: the ways a sweep misleads;
- `plots`, `report`: the pictures and the report directory;
- `commands`: the `report`, `export` and `stats` commands.
"""
