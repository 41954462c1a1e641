"""Seed S1 end to end: Dynamics 365 HR workers -> scimgw -> Eloops' SFTP file, with write-back.

Everything over real sockets: the D365 fake (OData and its Microsoft token endpoint under
``/login``) served by uvicorn, Eloops' SFTP drop by asyncssh, ``scimgw serve`` (embedded
worker) and ``scimgw sync`` as subprocesses. The configuration is the one of
examples/seeds/s1-dynamics365-eloops.yaml, pointed at the fakes.
"""

import asyncio
import csv
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncssh
import orjson
import yaml

from tests.fakes.dynamics365_hr import ENVIRONMENT, LOGIN_PATH, Dynamics365Hr
from tests.fakes.oauth_server import OAuthServer
from tests.fakes.serving import free_port
from tests.fakes.sftp_server import SftpServer, sftp_server
from tests.scenarios.conftest import Gateway, wait_for

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
D365_SECRET = "scenario-d365-secret"
SFTP_PASSWORD = "scenario-sftp-password"
SEED = Path(__file__).parents[2] / "examples" / "seeds" / "s1-dynamics365-eloops.yaml"
HR = "urn:scimgw:params:scim:schemas:extension:hr:2.0:User"
CUSTOM = {
    "Team_Custom": "Edm.String",
    "EloopsPoints_Custom": "Edm.Decimal",
    "EloopsCoins_Custom": "Edm.Int32",
}


@contextmanager
def sftp_drop(root: Path) -> Iterator[SftpServer]:
    """Eloops' SFTP drop on loopback, served from its own event loop in a thread."""
    ready = threading.Event()
    held: dict[str, Any] = {}

    async def main() -> None:
        async with sftp_server(root, username="eloops", password=SFTP_PASSWORD) as server:
            held["server"], held["stop"] = server, asyncio.Event()
            held["loop"] = asyncio.get_running_loop()
            ready.set()
            await held["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the SFTP server did not start"
    try:
        yield held["server"]
    finally:
        held["loop"].call_soon_threadsafe(held["stop"].set)
        thread.join(10)


def seed_config(d365_url: str, sftp: SftpServer) -> str:
    """The seed's example, with its URLs, SFTP account and identity pointed at the fakes."""
    config = yaml.safe_load(SEED.read_text())
    connections = config["tenants"]["acme"]["connections"]
    del connections["d365-workers"]["schedule"]  # the test runs each sync itself
    for name in ("d365-workers", "d365-points"):
        connections[name]["base_url"] = f"{d365_url}/data"
        auth = connections[name]["auth"]
        auth.update(tenant_id="contoso-tenant", client_id=CLIENT_ID, resource=ENVIRONMENT)
        auth["authority"] = f"{d365_url}{LOGIN_PATH}"
    options = connections["eloops"]["options"]
    options.update(host=sftp.host, port=sftp.port, username="eloops", host_key=sftp.fingerprint)
    options["directory"] = "/"
    return yaml.safe_dump(config, sort_keys=False)


def members(root: Path) -> dict[str, dict[str, str]]:
    """The rows of the latest Eloops file by email (one a day: a run may cross midnight)."""
    files = sorted(root.glob("*.csv"), key=lambda path: path.stat().st_mtime)
    if not files:
        return {}
    rows = csv.DictReader(io.StringIO(files[-1].read_text(encoding="utf-8")))
    return {row["email"]: row for row in rows}


def sync(gateway: Gateway) -> tuple[int, str]:
    done = gateway.cli("sync", "d365-workers")
    return done.returncode, done.stdout + done.stderr


def test_workers_reach_eloops_with_sso_names_leavers_stay_inactive_and_points_write_back(
    gateway: Gateway, serve, tmp_path: Path
) -> None:
    hr = Dynamics365Hr(
        OAuthServer(client_id=CLIENT_ID, client_secret=D365_SECRET), custom_fields=CUSTOM
    )
    hr.page_size = 2  # three pages: nextLink paging over the socket
    hr.hire("000101", "Ada", "Lovelace", "Ada.Lovelace@Contoso.com", custom={"Team_Custom": "R&D"})
    hr.hire("000102", "Grace", "Hopper", "GRACE.HOPPER@contoso.com")
    hr.hire("000103", "Alan", "Turing", "alan.turing@contoso.com")
    hr.hire("000104", "Edsger", "Dijkstra", "Edsger@Contoso.com")
    drop = tmp_path / "eloops"
    drop.mkdir()
    with sftp_drop(drop) as sftp:
        gateway.configure(
            seed_config(serve(hr.served_app()), sftp),
            D365_CLIENT_SECRET=D365_SECRET,
            ELOOPS_SFTP_PASSWORD=SFTP_PASSWORD,
        )
        gateway.start()

        # S1.2, S1.3, S1.6: every worker is a member, named by the lower-cased work email.
        started = time.monotonic()
        code, output = sync(gateway)
        assert code == 0, output
        rows = wait_for(lambda: len(members(drop)) == 4 and members(drop), what="4 members")
        print(f"\nD365 run -> Eloops SFTP file: {time.monotonic() - started:.2f} s for 4 workers")
        assert sorted(rows) == [
            "ada.lovelace@contoso.com",
            "alan.turing@contoso.com",
            "edsger@contoso.com",
            "grace.hopper@contoso.com",
        ]
        assert rows["ada.lovelace@contoso.com"]["employee_id"] == "000101"
        assert {row["active"] for row in rows.values()} == {"true"}
        user = next(u for u in gateway.users("acme") if u["userName"] == "ada.lovelace@contoso.com")
        assert user[HR]["customFields"] == {"team": "R&D"}

        # A terminated worker stays in the file, inactive.
        hr.workers["000102"].status = "Terminated"
        code, output = sync(gateway)
        assert code == 0, output
        rows = wait_for(
            lambda: (
                (m := members(drop)).get("grace.hopper@contoso.com", {}).get("active") == "false"
                and m
            ),
            what="Grace inactive in the Eloops file",
        )
        assert len(rows) == 4

        # S1.4: points reach scimgw (SCIM PATCH) and are written into the worker's custom
        # field; HR's standard fields are never written.
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": f"{HR}:customFields.eloops_points", "value": 120.5},
                {"op": "replace", "path": f"{HR}:customFields.eloops_coins", "value": 7},
            ],
        }
        started = time.monotonic()
        with gateway.scim("acme") as scim:
            answer = scim.patch(f"/Users/{user['id']}", content=orjson.dumps(patch))
            assert answer.status_code == 200, answer.text
        ada = hr.workers["000101"]
        wait_for(lambda: ada.custom.get("EloopsCoins_Custom") == 7, what="coins in D365")
        print(f"SCIM PATCH -> D365 custom fields: {time.monotonic() - started:.2f} s")
        assert ada.custom == {"Team_Custom": "R&D", "EloopsPoints_Custom": 120.5} | {
            "EloopsCoins_Custom": 7
        }
        assert (ada.first_name, ada.last_name, ada.email, ada.status) == (
            "Ada",
            "Lovelace",
            "Ada.Lovelace@Contoso.com",
            "Employed",
        )
        written = [orjson.loads(seen.body) for seen in hr.requests if seen.method == "PATCH"]
        assert written and all(key.endswith("_Custom") for body in written for key in body)

        # The next read keeps the points: the source owns only what its read map reads.
        code, output = sync(gateway)
        assert code == 0, output
        again = next(u for u in gateway.users("acme") if u["userName"] == user["userName"])
        assert again[HR]["customFields"]["eloops_points"] == 120.5

        # A feed returning no workers is held by the guard: nobody loses access.
        hr.workers.clear()
        code, output = sync(gateway)
        assert code == 2, output
        assert "returned no one" in output
        assert all(u["active"] for u in gateway.users("acme") if "grace" not in u["userName"])
        time.sleep(1)  # nothing is queued for Eloops: the file still lists three active
        assert [r["active"] for r in members(drop).values()].count("true") == 3


def test_the_sftp_drop_of_try_it_locally_takes_a_file_with_its_printed_account(
    tmp_path: Path,
) -> None:
    """docs/connectors/dynamics365-hr.md, "Try it locally": the SFTP drop a user serves."""
    port = free_port()
    root = tmp_path / "drop"
    command = [sys.executable, "-m", "tests.fakes.sftp_server", "--root", str(root)]
    server = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline() + server.stdout.readline()  # type: ignore[union-attr]
        assert f"port {port} username scimgw" in banner and "SHA256:" in banner

        async def upload() -> None:
            async with (
                asyncssh.connect(
                    "127.0.0.1",
                    port,
                    username="scimgw",
                    password="local-sftp-password",
                    known_hosts=None,
                ) as ssh,
                ssh.start_sftp_client() as sftp,
                sftp.open("/members.csv", "w") as remote,
            ):
                await remote.write("email\n")

        asyncio.run(upload())
        assert (root / "members.csv").read_text() == "email\n"
    finally:
        server.terminate()
        server.wait(10)
