"""Configuration of the SFTP channel: the hosted server (gateway config) and each partner's access (partner file).

In ``gateway.yaml``, the hosted server::

    sftp:
      enabled: true
      host: 0.0.0.0
      port: 2222
      homes: var/sftp/homes                         # <homes>/<username>/inbox and /outbox
      host_key: var/sftp/ssh_host_ed25519_key       # generated on first start, reused after
      max_upload_bytes: 104857600

In a partner file, under ``channels.sftp``::

    account:                       # the partner logs in to the gateway's server
      username: acme               # default: the partner id
      authorized_keys: ["ssh-ed25519 AAAA... acme-edi"]
      password_hashes: ["$scrypt$ln=15,r=8,p=1$...$..."]
    poll:                          # the gateway fetches from the partner's server
      host: sftp.acme.example
      username: edigw
      private_key: /etc/edigw/keys/acme          # or private_key_env: ACME_SFTP_KEY
      host_key: "sftp.acme.example ssh-ed25519 AAAA..."   # or SHA256:..., or a list of them
      inbox: /outgoing
      interval: 60
      min_age: 30                  # stable: size and time unchanged this long ...
      done_suffix: .done           # ... or: taken when <name>.done appears
      after: move                  # or delete
      processed: /outgoing/processed
    push:                          # the gateway sends to the partner's server
      host: sftp.acme.example
      username: edigw
      private_key_env: ACME_SFTP_KEY
      host_key: SHA256:...
      folder: /incoming
    send: push                     # or outbox (the hosted account's outbox/); default: push when
                                   # configured, else outbox when there is an account

No secret is ever part of the configuration: passwords are given as hashes,
private keys, passphrases and remote passwords by a file path or the *name*
of an environment variable, read when a connection is made. Password hashes
are left out of ``repr``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters.sftp.keys import HostKeyPin, parse_password_hash, parse_public_key

USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SftpServerConfig(_Strict):
    """``sftp`` in the gateway config: the hosted server."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2222, ge=0, le=65535)  # 0: any free port (tests)
    homes: Path = Path("var/sftp/homes")  # <homes>/<username>/{inbox,outbox}
    host_key: Path = Path("var/sftp/ssh_host_ed25519_key")
    host_key_type: Literal["ed25519", "rsa"] = "ed25519"  # what is generated when the file is missing
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    max_connections: int = Field(default=64, ge=1)
    auth_timeout: float = Field(default=30.0, gt=0)  # seconds from connecting to logging in
    max_auth_tries: int = Field(default=6, ge=1)
    # An upload under such a name (or a name starting with ".") is a partial: it is taken in
    # when renamed to its final name in the same session, and dropped if it never is.
    partial_suffixes: list[str] = [".part", ".filepart", ".tmp"]
    stop_timeout: float = Field(default=30.0, ge=0)  # how long stop() waits for uploads being taken in


class HostedAccount(_Strict):
    """``channels.sftp.account``: the partner's login on the hosted server."""

    username: str | None = None  # default: the partner id
    authorized_keys: list[str] = []  # OpenSSH public-key lines
    password_hashes: list[str] = Field(default=[], repr=False)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not USERNAME.match(value):
            raise ValueError("a user name is 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'")
        return value

    @field_validator("authorized_keys")
    @classmethod
    def _keys(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_public_key(value)
        return values

    @field_validator("password_hashes")
    @classmethod
    def _hashes(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_password_hash(value)
        return values

    @model_validator(mode="after")
    def _some_way_in(self) -> HostedAccount:
        if not self.authorized_keys and not self.password_hashes:
            raise ValueError("an account needs authorized_keys or password_hashes (or both)")
        return self


class RemoteServer(_Strict):
    """A partner's SSH server and how the gateway logs in to it."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    private_key: Path | None = None  # a file with the private key (OpenSSH or PEM)
    private_key_env: str | None = None  # or: the name of an environment variable holding the key
    passphrase_env: str | None = None  # the key's passphrase, from this environment variable
    password_env: str | None = None  # password login, the password from this environment variable
    host_key: list[str] = Field(min_length=1)  # pinned: known_hosts lines and/or SHA256 fingerprints
    connect_timeout: float = Field(default=15.0, gt=0)
    timeout: float = Field(default=60.0, gt=0)  # for each SFTP operation

    @field_validator("host_key", mode="before")
    @classmethod
    def _one_or_more(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("host_key")
    @classmethod
    def _pins(cls, values: list[str]) -> list[str]:
        for value in values:
            HostKeyPin.parse(value)
        return values

    @field_validator("private_key_env", "passphrase_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError("the name of an environment variable (the secret itself is never configured)")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> RemoteServer:
        if self.private_key is not None and self.private_key_env is not None:
            raise ValueError("private_key and private_key_env: give one of them")
        if self.private_key is None and self.private_key_env is None and self.password_env is None:
            raise ValueError("how to log in: private_key, private_key_env or password_env")
        return self

    @property
    def pins(self) -> list[HostKeyPin]:
        return [HostKeyPin.parse(value) for value in self.host_key]

    @property
    def address(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


class PollConfig(RemoteServer):
    """``channels.sftp.poll``: documents the gateway fetches from the partner's server."""

    inbox: str = "."  # the remote folder documents appear in
    pattern: str = "*"  # fnmatch pattern of the names to take (dot files are never taken)
    interval: float = Field(default=60.0, gt=0)  # seconds between polls
    min_age: float = Field(default=30.0, ge=0)  # stable: size and modification time unchanged this long
    done_suffix: str | None = None  # instead: a file is taken once <name><done_suffix> exists
    after: Literal["move", "delete"] = "move"
    processed: str | None = None  # where taken files go (after: move); default <inbox>/processed
    failed: str | None = None  # where refused files go; default: left in place and not tried again
    max_backoff: float = Field(default=300.0, gt=0)  # longest wait between polls after failures

    @field_validator("done_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value):
            raise ValueError("a file-name suffix such as '.done'")
        return value

    @property
    def processed_folder(self) -> str:
        return self.processed or _join(self.inbox, "processed")


class PushConfig(RemoteServer):
    """``channels.sftp.push``: documents the gateway uploads to the partner's server."""

    folder: str = "."
    temp_prefix: str = "."  # the upload's name until it is complete: <prefix><name><suffix>
    temp_suffix: str = ".part"
    overwrite: bool = False  # replace a different file of the same name (never, by default)

    @model_validator(mode="after")
    def _temp_differs(self) -> PushConfig:
        if not self.temp_prefix and not self.temp_suffix:
            raise ValueError("temp_prefix or temp_suffix must be set: the partner must not see a partial file")
        if "/" in self.temp_prefix + self.temp_suffix:
            raise ValueError("temp_prefix and temp_suffix are parts of a file name")
        return self


class SftpPartner(_Strict):
    """``channels.sftp`` in a partner file."""

    account: HostedAccount | None = None
    poll: PollConfig | None = None
    push: PushConfig | None = None
    send: Literal["push", "outbox"] | None = None

    @model_validator(mode="after")
    def _send(self) -> SftpPartner:
        if self.send == "push" and self.push is None:
            raise ValueError("send: push needs a push section")
        if self.send == "outbox" and self.account is None:
            raise ValueError("send: outbox needs an account (the outbox is the account's)")
        return self

    @property
    def sends_by(self) -> str | None:
        """How documents for this partner leave: "push", "outbox" or None (not by SFTP)."""
        if self.send is not None:
            return self.send
        if self.push is not None:
            return "push"
        return "outbox" if self.account is not None else None


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder.rstrip('/')}/{name}"
