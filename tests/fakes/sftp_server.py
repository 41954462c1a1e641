"""Contract fake of a vendor's SFTP drop: a real asyncssh server on 127.0.0.1.

One user, password and/or public-key auth, a freshly generated host key, and a chroot in
a temporary directory whose path tests read the uploaded files from. It records the auth
attempts and file operations (open, rename, posix-rename, remove) so tests can pin how a
file was written, and can refuse the OpenSSH ``posix-rename`` extension like a plain
SFTPv3 server.

Usage::

    async with sftp_server(tmp_path, password="s3cret") as server:
        ...  # connect to server.port; files land under server.root
"""

import argparse
import asyncio
import contextlib
import functools
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

HOST = "127.0.0.1"


@dataclass
class SftpServer:
    """What a test needs to know about the running server."""

    port: int
    root: Path
    username: str
    host_key: asyncssh.SSHKey
    #: ``(operation, path...)`` as the client named them, e.g. ``("posix_rename", a, b)``,
    #: and ``("auth_password", user)`` / ``("auth_public_key", user)`` per auth attempt.
    operations: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return HOST

    @property
    def fingerprint(self) -> str:
        """The host key's fingerprint as ``ssh-keygen -lf`` prints it (``SHA256:...``)."""
        return str(self.host_key.get_fingerprint("sha256"))

    def known_hosts_line(self) -> str:
        """The OpenSSH known_hosts entry of this server (non-default port form)."""
        public = self.host_key.export_public_key("openssh").decode().strip()
        return f"[{HOST}]:{self.port} {public}\n"


class _Auth(asyncssh.SSHServer):
    def __init__(
        self,
        username: str,
        password: str | None,
        client_key: asyncssh.SSHKey | None,
        operations: list[tuple[str, ...]],
    ) -> None:
        self._username = username
        self._password = password
        self._client_key = client_key
        self._operations = operations

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return self._password is not None

    def validate_password(self, username: str, password: str) -> bool:
        self._operations.append(("auth_password", username))
        expected = self._password or ""
        return username == self._username and hmac.compare_digest(password, expected)

    def public_key_auth_supported(self) -> bool:
        return self._client_key is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self._operations.append(("auth_public_key", username))
        assert self._client_key is not None
        same = key.public_data == self._client_key.public_data
        return username == self._username and same


class _RecordingSftp(asyncssh.SFTPServer):
    def __init__(
        self,
        chan: asyncssh.SSHServerChannel,
        *,
        root: Path,
        operations: list[tuple[str, ...]],
        posix_rename: bool,
    ) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self._operations = operations
        self._posix_rename = posix_rename

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        self._operations.append(("open", path.decode()))
        return super().open(path, pflags, attrs)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._operations.append(("rename", oldpath.decode(), newpath.decode()))
        super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._operations.append(("posix_rename", oldpath.decode(), newpath.decode()))
        if not self._posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename is not supported")
        super().posix_rename(oldpath, newpath)

    def remove(self, path: bytes) -> None:
        self._operations.append(("remove", path.decode()))
        super().remove(path)


@asynccontextmanager
async def sftp_server(
    root: Path,
    *,
    username: str = "scimgw",
    password: str | None = None,
    client_key: asyncssh.SSHKey | None = None,
    posix_rename: bool = True,
    port: int = 0,
) -> AsyncIterator[SftpServer]:
    """Serve SFTP for one user on a free loopback port until the block exits.

    Args:
        root: the chroot; the client's ``/`` is this directory.
        username: the only account.
        password: accept this password (None: no password auth).
        client_key: accept this key's public half (None: no public-key auth).
        posix_rename: offer the OpenSSH posix-rename extension (False: refuse it).
        port: the port to listen on (0: a free one).
    """
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    operations: list[tuple[str, ...]] = []
    acceptor = await asyncssh.listen(
        HOST,
        port,
        server_host_keys=[host_key],
        server_factory=functools.partial(_Auth, username, password, client_key, operations),
        sftp_factory=functools.partial(
            _RecordingSftp, root=root, operations=operations, posix_rename=posix_rename
        ),
        allow_scp=False,
        gss_kex=False,
        gss_auth=False,
    )
    try:
        yield SftpServer(acceptor.get_port(), root, username, host_key, operations)
    finally:
        acceptor.close()
        await acceptor.wait_closed()


async def _serve_until_stopped(
    root: Path,
    port: int,
    username: str,
    password: str | None,
    client_key: asyncssh.SSHKey | None,
) -> None:
    async with sftp_server(
        root, username=username, password=password, client_key=client_key, port=port
    ) as server:
        print(f"SFTP drop: host {server.host} port {server.port} username {username}")
        auth = f"password {password!r}" if password is not None else "key auth only"
        print(f"  {auth}; host_key: {server.fingerprint}; files land in {root}")
        print("  Ctrl-C stops it", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    """``python -m tests.fakes.sftp_server --root DIR [--authorized-key KEY.pub]``: a vendor's
    SFTP drop on loopback, to try a CSV target (docs/connectors/bamboohr.md and
    dynamics365-hr.md, "Try it locally"). With a key, the password is refused."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the chroot; files land here")
    parser.add_argument("--port", type=int, default=2222, help="0: a free port")
    parser.add_argument("--username", default="scimgw")
    parser.add_argument("--password", default="local-sftp-password")
    parser.add_argument("--authorized-key", type=Path, help="a public key file (key auth only)")
    parser.add_argument("--folder", default="", help="a folder created under the root")
    args = parser.parse_args()
    (args.root / args.folder).mkdir(parents=True, exist_ok=True)
    key = asyncssh.read_public_key(str(args.authorized_key)) if args.authorized_key else None
    password = None if key is not None else args.password
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(args.root, args.port, args.username, password, key))


if __name__ == "__main__":
    main()
