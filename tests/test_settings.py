from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from tblocal.settings import Settings


def test_defaults():
    s = Settings.from_env({})
    assert (s.host, s.port, s.data_dir, s.project, s.admin_token) == ("127.0.0.1", 7181, Path(".tblocal"), Path("."), "")
    assert s.max_body_bytes == 10 * 1024 * 1024
    assert s.query_timeout_s == 10.0
    assert s.compact_after_s == 5.0


def test_environment_is_converted_to_each_settings_type():
    s = Settings.from_env(
        {"TBLOCAL_PORT": "8000", "TBLOCAL_DATA_DIR": "/tmp/x", "TBLOCAL_QUERY_TIMEOUT": "2.5", "TB_TOKEN": "p.abc", "TBLOCAL_HOST": "0.0.0.0"}
    )
    assert s.port == 8000 and isinstance(s.port, int)
    assert s.data_dir == Path("/tmp/x") and isinstance(s.data_dir, Path)
    assert s.query_timeout_s == 2.5 and isinstance(s.query_timeout_s, float)
    assert (s.admin_token, s.host) == ("p.abc", "0.0.0.0")


def test_a_switch_reads_the_words_people_write():
    assert Settings.from_env({}).record_usage is True
    for off in ("0", "false", "No", "off"):
        assert Settings.from_env({"TBLOCAL_RECORD_USAGE": off}).record_usage is False
    for on in ("1", "true", "yes"):
        assert Settings.from_env({"TBLOCAL_RECORD_USAGE": on}).record_usage is True


def test_flags_override_environment_and_empty_values_are_ignored():
    s = Settings.from_env({"TBLOCAL_PORT": "8000", "TBLOCAL_HOST": ""}, port=9000, host=None, data_dir="d")
    assert (s.port, s.host, s.data_dir) == (9000, "127.0.0.1", Path("d"))


def test_every_setting_has_a_distinct_environment_variable_and_help():
    envs = [f.metadata["env"] for f in fields(Settings)]
    assert len(envs) == len(set(envs))
    assert all(f.metadata["help"] for f in fields(Settings))


def test_settings_are_immutable():
    with pytest.raises(FrozenInstanceError):
        Settings.from_env({}).port = 1


def test_every_setting_is_documented():
    """docs/tblocal.md's settings table has a row for each setting's environment variable."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "tblocal.md").read_text()
    rows = {line.split("|")[1].strip() for line in doc.splitlines() if line.startswith("| ")}
    missing = [f.metadata["env"] for f in fields(Settings) if f.metadata["env"] not in rows]
    assert missing == []
