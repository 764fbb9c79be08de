"""tblocal: Tinybird's HTTP API on embedded ClickHouse (chDB)."""
