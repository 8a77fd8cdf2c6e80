from __future__ import annotations

import argparse
import os
import stat
import typing

import pytest
from fake_hub import VALID_TOKEN

from lorastudio.cli import hub as hub_cli
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.hub import tokens


def run_cli(argv, data):
    parser = argparse.ArgumentParser()
    hub_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args, data)


@pytest.fixture
def cli_env(hub, conn, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cli-cache"))
    monkeypatch.setattr(tokens, "_keyring_usable", lambda: False)


def test_cli_download_and_search(cli_env, data, capsys):
    assert run_cli(["download", "acme/pixel-knight-lora"], data) == 0
    out, err = capsys.readouterr()
    assert "Installed acme/pixel-knight-lora" in out
    assert str(data.loras / "pixel_knight.safetensors") in out
    assert "pixel_knight.safetensors [" in err  # the progress bar
    assert run_cli(["download", "acme/pixel-knight-lora", "--file", "pixel_knight.safetensors"], data) == 0
    assert "already in your library" in capsys.readouterr().out
    assert run_cli(["search", "knight"], data) == 0
    assert "acme/pixel-knight-lora" in capsys.readouterr().out


def test_cli_failure_is_one_sentence(cli_env, data):
    with pytest.raises(LoraStudioError, match="accept the license on the model page"):
        run_cli(["download", "corp/gated-lora"], data)


def test_cli_offline(data, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LoraStudioError, match="Offline mode"):
        run_cli(["download", "acme/x"], data)


def test_token_falls_back_to_a_private_file_with_a_notice(data, monkeypatch):
    monkeypatch.setattr(tokens, "_keyring_usable", lambda: False)
    store = tokens.save_token(data, VALID_TOKEN)
    assert store.where == "file"
    assert "No system keyring" in store.notice
    path = data.root / tokens.FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert tokens.load_token(data) == VALID_TOKEN
    assert VALID_TOKEN not in data.settings_file.read_text() if data.settings_file.exists() else True
    assert tokens.token_hint(VALID_TOKEN) == "hf_…6789"
    tokens.delete_token(data)
    assert tokens.load_token(data) is None
    assert not path.exists()


def test_token_in_keyring(data, monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 10
        store: typing.ClassVar[dict] = {}

        def get_password(self, service, username):
            return self.store.get((service, username))

        def set_password(self, service, username, password):
            self.store[(service, username)] = password

        def delete_password(self, service, username):
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        assert tokens.save_token(data, VALID_TOKEN).where == "keyring"
        assert tokens.load_token(data) == VALID_TOKEN
        assert not (data.root / tokens.FILE_NAME).exists()
        tokens.delete_token(data)
        assert tokens.load_token(data) is None
    finally:
        keyring.set_keyring(previous)


def test_existing_login_is_offered(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_env_login_1234")
    assert tokens.existing_login() == "hf_from_env_login_1234"


def test_app_connection_reads_settings_and_token(data, monkeypatch):
    from lorastudio.core.settings import Settings, save_settings

    monkeypatch.setattr(tokens, "_keyring_usable", lambda: False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(data.root / "nohf"))
    save_settings(data.settings_file, Settings(hf_endpoint="http://127.0.0.1:1/"))
    tokens.save_token(data, VALID_TOKEN)
    conn = tokens.app_connection(data, offline=False)
    assert conn.endpoint == "http://127.0.0.1:1"
    assert conn.token == VALID_TOKEN
    assert conn.token_for("http://127.0.0.1:1/x") == VALID_TOKEN
    assert conn.token_for("https://cdn.example/x") is None
    assert VALID_TOKEN not in data.settings_file.read_text()
