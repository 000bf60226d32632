"""gateway.toml: defaults that work on one machine, paths from the file's folder, no secrets in it."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, load_settings


def test_without_a_config_file_everything_lives_under_state_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDIGW_CONFIG", raising=False)
    settings = load_settings(None)
    assert settings.config_file is None
    assert settings.store_url == f"sqlite:///{tmp_path / 'state' / 'edigw.db'}"
    assert settings.archive_dir == tmp_path / "state" / "archive"
    assert settings.templates_dir.name == "templates" and settings.templates_dir.is_dir()


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path):
    config = tmp_path / "etc" / "gateway.toml"
    config.parent.mkdir()
    config.write_text('state_dir = "../var"\n[archive]\ndir = "/srv/archive"\n')
    settings = load_settings(str(config))
    assert settings.state_dir == tmp_path / "var"
    assert str(settings.archive_dir) == "/srv/archive"


def test_a_password_written_in_the_config_is_refused(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text('[odoo]\npassword = "admin"\n')
    with pytest.raises(ConfigError, match="password_file or password_env"):
        load_settings(str(config))


def test_the_odoo_password_comes_from_the_environment_variable_named(tmp_path, monkeypatch):
    config = tmp_path / "gateway.toml"
    config.write_text('[odoo]\npassword_env = "EDIGW_TEST_PASSWORD"\n')
    monkeypatch.setenv("EDIGW_TEST_PASSWORD", "s3cret")
    assert load_settings(str(config)).odoo.password() == "s3cret"


def test_a_broken_config_names_the_file(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text("[store\n")
    with pytest.raises(ConfigError, match=str(config)):
        load_settings(str(config))
