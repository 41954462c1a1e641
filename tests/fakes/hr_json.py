"""Contract fake of the generic JSON HR source (provisioning/connectors/hr_json.py).

The contract is ours ([A]: docs/sync-runs.md, "The generic HR source"); what it enforces:

- [A] ``Authorization: Bearer <token>`` on every request, else 401 ``{"error": ...}``;
- [A] ``GET /people?page=&per_page=[&changed_since=]``: pages in id order, ``per_page``
  1 to 500 (400 otherwise), ``page`` from 1 (400 otherwise); ``next_page`` is null on the
  last page; ``as_of`` is the checkpoint of this moment, and ``changed_since`` takes only
  a checkpoint it gave (400 otherwise) and returns the people changed after it;
- [A] throttling: 429 with ``Retry-After`` (``throttle(n)`` throttles the next n requests);
- [A] a person leaving the system is gone from full reads (``remove``).

Use it through ``httpx.ASGITransport(app=fake.app)``, or serve it on loopback::

    python -m tests.fakes.hr_json --port 8765 --people 5
"""

import argparse
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.catalog import Served

TOKEN = "hr-token"
MAX_PER_PAGE = 500


@dataclass
class HrJsonFake:
    """An HR system holding people; tests edit them between runs."""

    token: str = TOKEN
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The version at which each person last changed (a checkpoint is a version).
    changed: dict[str, int] = field(default_factory=dict)
    version: int = 0
    requests: list[str] = field(default_factory=list)
    _throttled: int = 0
    _order: list[str] | None = None

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/people", self._people)])

    # -- what tests do -----------------------------------------------------------------

    def add(self, **record: Any) -> dict[str, Any]:
        """Add (or replace) a person; ``id`` is required."""
        person_id = str(record["id"])
        self.people[person_id] = record
        self._touch(person_id)
        return record

    def update(self, person_id: str, **fields: Any) -> None:
        self.people[person_id].update(fields)
        self._touch(person_id)

    def remove(self, person_id: str) -> None:
        self.people.pop(person_id)
        self.changed.pop(person_id, None)
        self._order = None

    def throttle(self, requests: int) -> None:
        """Answer the next ``requests`` requests 429 with ``Retry-After: 1``."""
        self._throttled = requests

    def _touch(self, person_id: str) -> None:
        self.version += 1
        self.changed[person_id] = self.version
        self._order = None

    # -- the API -----------------------------------------------------------------------

    async def _people(self, request: Request) -> JSONResponse:
        self.requests.append(str(request.url.query))
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "invalid or missing token"}, status_code=401)
        if self._throttled > 0:
            self._throttled -= 1
            return JSONResponse(
                {"error": "too many requests"}, status_code=429, headers={"Retry-After": "1"}
            )
        try:
            page = int(request.query_params.get("page", "1"))
            per_page = int(request.query_params.get("per_page", "100"))
            since = request.query_params.get("changed_since")
            after = None if since is None else int(since)
        except ValueError:
            return JSONResponse({"error": "page, per_page and changed_since are numbers"}, 400)
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE or (after is not None and after < 0):
            return JSONResponse({"error": f"page >= 1, per_page 1..{MAX_PER_PAGE}"}, 400)
        if after is not None and after > self.version:
            return JSONResponse({"error": "changed_since is no checkpoint of ours"}, 400)
        ids = self._ids()
        if after is not None:
            ids = [i for i in ids if self.changed[i] > after]
        chunk = ids[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(ids)
        body = {
            "people": [self.people[i] for i in chunk],
            "next_page": page + 1 if more else None,
            "as_of": str(self.version),
        }
        return JSONResponse(body)

    def _ids(self) -> list[str]:
        if self._order is None:
            self._order = sorted(self.people)
        return self._order


def person(number: int, **extra: Any) -> dict[str, Any]:
    """A plausible employee record of the generic source."""
    record = {
        "id": f"E{number:06d}",
        "employee_number": f"{number:06d}",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "work_email": f"person{number}@acme.example",
        "job_title": "Engineer",
        "department": "R&D",
        "status": "active",
        "start_date": "2020-01-06",
        "manager_id": None,
    }
    record.update(extra)
    return record


def serve(people: int) -> Served:
    """The fake with ``people`` people (the first manages the others), for the serve command."""
    fake = HrJsonFake()
    for number in range(1, people + 1):
        fake.add(**person(number, manager_id="E000001" if number > 1 else None))
    return Served(
        app=fake.app,
        notes=[
            f"auth: bearer token {fake.token!r}",
            f"{people} people, E000001 to E{people:06d}; E000001 manages the others",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--title", default="Engineer", help="everyone's job title")
    parser.add_argument("--changed", type=int, default=None, help="of them, this many have it")
    args = parser.parse_args()
    fake = HrJsonFake(token=args.token)
    changed = args.people if args.changed is None else args.changed
    for number in range(1, args.people + 1):
        title = args.title if number <= changed else "Engineer"
        manager = "E000001" if number > 1 else None
        fake.add(**person(number, manager_id=manager, job_title=title))
    import uvicorn

    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
