"""Credentials that never change: an API key header, HTTP basic, a static bearer token.

Each strategy keeps its secret as a :class:`pydantic.SecretStr` and reveals it only while
signing a request, so a debug dump of a client (``vars(client.auth)``) shows ``**********``.
"""

from collections.abc import Generator

import httpx
from pydantic import SecretStr

_KEY_PLACEHOLDER = "{key}"


class ApiKeyHeaderAuth(httpx.Auth):
    """Sends a key in one header, formatted by a template.

    Args:
        key: the API key.
        header: the header that carries it, e.g. ``Authorization`` or ``X-Api-Key``.
        template: the header value; ``{key}`` is replaced by the key
            (Lucca: ``lucca application={key}``).

    Raises:
        ValueError: the template has no ``{key}`` (the key would never be sent).
    """

    def __init__(
        self, key: SecretStr, *, header: str = "Authorization", template: str = _KEY_PLACEHOLDER
    ) -> None:
        if _KEY_PLACEHOLDER not in template:
            raise ValueError(f"api key template must contain {_KEY_PLACEHOLDER}")
        self._key = key
        self._header = header
        self._template = template

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # str.replace, not str.format: a template is configuration, and format() would
        # let "{key.__class__}" reach into the object.
        value = self._template.replace(_KEY_PLACEHOLDER, self._key.get_secret_value())
        request.headers[self._header] = value
        yield request


class BearerTokenAuth(ApiKeyHeaderAuth):
    """Sends ``Authorization: Bearer <token>`` with a token that does not expire."""

    def __init__(self, token: SecretStr) -> None:
        super().__init__(token, header="Authorization", template="Bearer {key}")


class BasicCredentialsAuth(httpx.Auth):
    """HTTP basic auth (RFC 7617); no password sends ``username:`` as TalentLMS expects.

    Args:
        username: the user name (TalentLMS: the API key).
        password: the password, or None for an empty one.
    """

    def __init__(self, username: SecretStr, password: SecretStr | None = None) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        password = self._password.get_secret_value() if self._password else ""
        # httpx's own encoder, so the bytes are the ones every httpx user sends.
        basic = httpx.BasicAuth(self._username.get_secret_value(), password)
        yield from basic.auth_flow(request)
