"""Contract fake of the Taleez API (provisioning/connectors/taleez.py), and a hire sender.

What it enforces, as target-apis.md §5 and §9 describe it ([A] where no public source does):

- ``x-taleez-api-secret: <key>`` on every request [V OpenAPI v0.4.0], else 401 with a
  JSON ``{"message": ...}`` body [A: body];
- 100 requests a minute, then 429 with ``Retry-After`` [V: the limit; A: the answer];
  ``throttle(n)`` answers the next n requests 429;
- ``GET /0/candidates/{id}``: ``{id, firstName, lastName, mail, phone, lang}``, no status
  [V §9]; 404 ``{"message": "Candidate cannot be found"}`` for an unknown id [V: the
  status; A: the body]; a non-numeric id is 400 [A];
- ``GET /0/candidates/{id}/applications``: ``[{id, jobId, currentStepName, rejected,
  date}]`` [V §9], the step a label the company names (``Embauché`` here);
- ``GET /0/jobs?page=&pageSize=`` (0-based pages, pageSize 1..100) [I]:
  ``{page, pageSize, listSize, list}``.

It also builds the [A] "candidate hired" webhook body (§5) and sends it to scimgw
(:func:`post_hired`), the way a user tries the flow by hand::

    python -m tests.fakes serve taleez --port 9101
    python -m tests.fakes.taleez hire http://127.0.0.1:8000/hooks/acme/taleez \\
        --secret "$TALEEZ_WEBHOOK_SECRET" --candidate 1 --job 1 --department Sales
"""

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.catalog import Served
from tests.fakes.common import SlidingWindow

API_KEY = "taleez-secret-key"
HIRED_STEP = "Embauché"
MAX_PAGE_SIZE = 100
#: The header scimgw checks for the webhook's shared secret (provisioning/connectors/taleez.py).
SECRET_HEADER = "X-Taleez-Webhook-Secret"


@dataclass
class TaleezFake:
    """One Taleez company: candidates, their applications and jobs."""

    api_key: str = API_KEY
    rate: int = 100
    window: float = 60.0
    clock: Callable[[], float] = time.monotonic
    candidates: dict[int, dict[str, Any]] = field(default_factory=dict)
    applications: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _throttled: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._window = SlidingWindow(self.rate, self.window)
        self.app = Starlette(
            routes=[
                Route("/0/candidates/{id}", self._gate(self._candidate)),
                Route("/0/candidates/{id}/applications", self._gate(self._applications)),
                Route("/0/jobs", self._gate(self._jobs)),
            ]
        )

    # -- what tests do -----------------------------------------------------------------

    def add_job(self, job_id: int, label: str) -> None:
        self.jobs[job_id] = {"id": job_id, "label": label, "status": "PUBLISHED"}

    def add_candidate(self, first: str, last: str, mail: str, phone: str = "0611223344") -> int:
        candidate_id = next(self._ids)
        self.candidates[candidate_id] = {
            "id": candidate_id,
            "firstName": first,
            "lastName": last,
            "mail": mail,
            "phone": phone,
            "lang": "FR",
        }
        self.applications[candidate_id] = []
        return candidate_id

    def apply(self, candidate_id: int, job_id: int, step: str = "Entretien") -> None:
        """The candidate applies to a job, at ``step``."""
        application = {
            "id": 1000 * candidate_id + job_id,
            "jobId": job_id,
            "currentStepName": step,
            "rejected": False,
            "date": "2026-11-02T09:00:00Z",
        }
        self.applications[candidate_id].append(application)

    def hire(self, candidate_id: int, job_id: int, step: str = HIRED_STEP) -> None:
        """Move the candidate's application to the job to the hired step (applying first)."""
        found = [a for a in self.applications[candidate_id] if a["jobId"] == job_id]
        if not found:
            self.apply(candidate_id, job_id, step)
        for application in found:
            application["currentStepName"] = step

    def throttle(self, requests: int) -> None:
        """Answer the next ``requests`` requests 429 with ``Retry-After: 1``."""
        self._throttled = requests

    # -- the gate every request passes -------------------------------------------------

    def _gate(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            self.requests.append(f"{request.method} {request.url.path}")
            if request.headers.get("x-taleez-api-secret") != self.api_key:
                return JSONResponse({"message": "Invalid or missing API secret"}, 401)
            if (wait := self._throttle()) is not None:
                body = {"message": "Too many requests"}
                return JSONResponse(body, 429, headers={"Retry-After": str(wait)})
            answer: Response = await handler(request)
            return answer

        return endpoint

    def _throttle(self) -> int | None:
        if self._throttled > 0:
            self._throttled -= 1
            return 1
        return self._window.wait(self.clock())

    # -- the API -----------------------------------------------------------------------

    async def _candidate(self, request: Request) -> Response:
        found = self._find(request)
        return found if isinstance(found, Response) else JSONResponse(self.candidates[found])

    async def _applications(self, request: Request) -> Response:
        found = self._find(request)
        return found if isinstance(found, Response) else JSONResponse(self.applications[found])

    def _find(self, request: Request) -> int | Response:
        raw = request.path_params["id"]
        if not raw.isdigit():
            return JSONResponse({"message": "id must be a number"}, 400)
        if int(raw) not in self.candidates:
            return JSONResponse({"message": "Candidate cannot be found"}, 404)
        return int(raw)

    async def _jobs(self, request: Request) -> Response:
        try:
            page = int(request.query_params.get("page", "0"))
            size = int(request.query_params.get("pageSize", "100"))
        except ValueError:
            return JSONResponse({"message": "page and pageSize are numbers"}, 400)
        if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
            return JSONResponse({"message": f"page >= 0, pageSize 1..{MAX_PAGE_SIZE}"}, 400)
        jobs = [self.jobs[i] for i in sorted(self.jobs)][page * size : (page + 1) * size]
        return JSONResponse({"page": page, "pageSize": size, "listSize": len(jobs), "list": jobs})


def hired_event(
    candidate_id: int,
    job_id: int | None = None,
    *,
    job_label: str | None = None,
    unit: str | None = None,
    department: str | None = None,
    start_date: str | None = None,
) -> dict[str, Any]:
    """The [A] "candidate hired" webhook body (target-apis.md §5, plus ``department``)."""
    body: dict[str, Any] = {
        "event": "candidate.hired",
        "date": "2026-12-03T10:00:00Z",
        "candidate": {"id": candidate_id},
    }
    if job_id is not None:
        body["job"] = {"id": job_id, "label": job_label}
    if unit is not None:
        body["unit"] = {"id": 7, "publicName": unit}
    if department is not None:
        body["department"] = {"name": department}
    if start_date is not None:
        body["startDate"] = start_date
    return body


def post_hired(url: str, secret: str, body: dict[str, Any]) -> httpx.Response:
    """Send a hire event to scimgw's webhook as Taleez would."""
    return httpx.post(url, json=body, headers={SECRET_HEADER: secret}, timeout=10)


def serve(people: int) -> Served:
    """A company with ``people`` candidates, each hired for job 1, for the serve command."""
    fake = TaleezFake()
    fake.add_job(1, "Account manager")
    for number in range(1, people + 1):
        candidate = fake.add_candidate(f"First{number}", f"Last{number}", f"cand{number}@mail.test")
        fake.hire(candidate, 1)
    return Served(
        app=fake.app,
        base_path="/0",
        notes=[
            f"auth: api_key {fake.api_key!r} in the header x-taleez-api-secret",
            f"{people} candidates, ids 1 to {people}, each at step {HIRED_STEP!r} of job 1",
            "send a hire: python -m tests.fakes.taleez hire <scimgw>/hooks/<tenant>/<connection>"
            " --secret <webhook secret> --candidate 1 --job 1",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send a Taleez 'candidate hired' event")
    commands = parser.add_subparsers(dest="command", required=True)
    hire = commands.add_parser("hire", help="POST a hire event to scimgw's webhook")
    hire.add_argument("url", help="http://<scimgw>/hooks/<tenant>/<connection>")
    hire.add_argument("--secret", required=True, help="the connection's webhook_secret")
    hire.add_argument("--candidate", type=int, required=True)
    hire.add_argument("--job", type=int, default=None)
    hire.add_argument("--job-label", default=None)
    hire.add_argument("--unit", default=None, help="the establishment's public name")
    hire.add_argument("--department", default=None)
    hire.add_argument("--start", default=None, help="contract start, YYYY-MM-DD")
    args = parser.parse_args(argv)
    body = hired_event(
        args.candidate,
        args.job,
        job_label=args.job_label,
        unit=args.unit,
        department=args.department,
        start_date=args.start,
    )
    answer = post_hired(args.url, args.secret, body)
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.status_code == 202 else 1


if __name__ == "__main__":
    sys.exit(main())
