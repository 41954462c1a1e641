"""``python -m tests.fakes``: every contract fake a user can serve to try a flow locally."""

import subprocess
import sys

import httpx
import pytest

from tests.fakes.catalog import FAKES, builder
from tests.fakes.serving import served


def test_list_names_every_fake() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "tests.fakes", "list"], capture_output=True, text=True, check=True
    )
    assert listed.stdout.split() == sorted(FAKES)


def test_an_unknown_fake_is_refused_with_the_names_there_are() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "tests.fakes", "serve", "nope"], capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert "no fake named 'nope'" in refused.stderr and "hr_json" in refused.stderr


@pytest.mark.parametrize("name", sorted(FAKES))
def test_each_fake_serves_on_a_socket_and_refuses_a_caller_without_credentials(name: str) -> None:
    fake = builder(name)(2)
    assert fake.notes, "a served fake tells the user how to connect"
    with served(fake.app) as url:
        answer = httpx.get(f"{url}{fake.base_path}/", timeout=5)
    assert answer.status_code in (401, 403, 404), answer.text
