"""The email report of a scheduled run (S2.6), and the failure email with reasons (S5.8).

The message names the connection, the trigger, the status, the times, the counts and the
first failures with their reasons: a person appears by identifier only (the SCIM id and
userName a run row keeps), never by other attribute values. It goes out with smtplib
(STARTTLS and login from ``SCIMGW_SMTP_*``) in a thread, off the event loop. A mail that
cannot be sent is logged, never raised: the run it reports has already been recorded.
"""

import asyncio
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage

import structlog

from gateway.config import RunReport
from gateway.settings import SmtpSettings
from provisioning.records import runs

log = structlog.get_logger("scimgw.mail")

#: Failures listed in one email; the rest are in ``scimgw runs show``.
MAX_LISTED = 50


def wanted(report: RunReport, outcome: runs.RunOutcome) -> bool:
    """Whether this outcome is mailed: always, or only when the run failed."""
    return report.when == "always" or outcome.status != "succeeded"


def build_message(
    sender: str,
    report: RunReport,
    request: runs.RunRequest,
    outcome: runs.RunOutcome,
    *,
    sent: datetime,
) -> EmailMessage:
    """The report of one run, addressed to the report's recipients."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(report.to)
    message["Subject"] = (
        f"scimgw: {request.connection} ({request.tenant}) {request.trigger} run {outcome.status}"
    )
    message["Date"] = sent.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(body(request, outcome))
    return message


def body(request: runs.RunRequest, outcome: runs.RunOutcome) -> str:
    """The text of a report: facts, counts, then the first failures with their reasons."""
    lines = [
        f"Connection: {request.connection} (tenant {request.tenant})",
        f"Trigger:    {request.trigger}" + (f" (slot {request.slot})" if request.slot else ""),
        f"Status:     {outcome.status}",
        f"Run:        {outcome.run_id or '-'} (scimgw runs show {outcome.run_id})",
        "",
        "Counts:",
        *(f"  {name:<12}{outcome.counts.get(name, 0)}" for name in runs.COUNTS),
    ]
    if outcome.message:
        lines += ["", f"Message: {outcome.message}"]
    if outcome.failures:
        shown = outcome.failures[:MAX_LISTED]
        lines += ["", f"Failures ({len(outcome.failures)}, first {len(shown)}):"]
        lines += [f"  {failure.person}: {failure.reason}" for failure in shown]
    return "\n".join(lines) + "\n"


class Mailer:
    """Sends run reports through one SMTP server.

    Args:
        smtp: the server and credentials; None when ``SCIMGW_SMTP_HOST`` is not set (a
            report is then logged as not sent).
        tls: the TLS context of STARTTLS (tests pass one trusting their own certificate).
    """

    def __init__(self, smtp: SmtpSettings | None, *, tls: ssl.SSLContext | None = None) -> None:
        self.smtp = smtp
        self.tls = tls or ssl.create_default_context()

    async def report(
        self, report: RunReport, request: runs.RunRequest, outcome: runs.RunOutcome
    ) -> bool:
        """Mail the outcome if the report wants it; True if a mail was accepted."""
        if not wanted(report, outcome):
            return False
        where = {"connection": request.connection, "run": outcome.run_id}
        if self.smtp is None:
            log.warning("mail.not_configured", reason="SCIMGW_SMTP_HOST is not set", **where)
            return False
        message = build_message(self.smtp.sender, report, request, outcome, sent=datetime.now(UTC))
        try:
            await asyncio.to_thread(self._send, message)
        except (OSError, smtplib.SMTPException) as exc:
            # str(exc) of smtplib names the server's reply, never the password sent.
            log.error("mail.failed", error=f"{type(exc).__name__}: {exc}"[:300], **where)
            return False
        log.info("mail.sent", recipients=len(report.to), **where)
        return True

    def _send(self, message: EmailMessage) -> None:
        smtp = self.smtp
        assert smtp is not None
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
            if smtp.starttls:
                server.starttls(context=self.tls)
            if smtp.username:
                server.login(smtp.username, smtp.password or "")
            server.send_message(message)
