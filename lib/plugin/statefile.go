package plugin

// DefaultStateDir holds the suite's state files (the handler's, check
// runs' memory between runs) when --state-dir is not given and it is
// writable; UsableDir falls back to a per-user folder otherwise.
const DefaultStateDir = "/var/lib/registry-checks"
