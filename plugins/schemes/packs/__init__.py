"""The built-in scheme packs, one TOML file per regulation in the seeds."""
