"""Posting the UI's forms from Flask's test client as a browser does: with the CSRF token that
the pages of its session carry."""

from __future__ import annotations

import re
from typing import Any

CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
# a sign-in or sign-out starts a fresh cookie, and with it a new CSRF secret
_NEW_COOKIE = ("/login", "/logout")


def csrf_token(page: str) -> str:
    """The CSRF token of the first form in ``page``."""
    match = CSRF_INPUT.search(page)
    assert match, "the page has no form carrying a CSRF token"
    return match.group(1)


class FormClient:
    """Flask's test client whose ``post`` sends the CSRF token of its session's pages (read
    once from the sign-in page, which shows no flashed message a test is waiting for)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._token: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def token(self) -> str:
        """A CSRF token good for this client's cookie."""
        if self._token is None:
            self._token = csrf_token(self.client.get("/login").get_data(as_text=True))
        return self._token

    def post(self, url: str, *, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a form with its CSRF token (``data`` may override it)."""
        fields = {"csrf_token": self.token(), **(data or {})}
        response = self.client.post(url, data=fields, **kwargs)
        if url.split("?")[0] in _NEW_COOKIE:
            self._token = None
        return response


def sign_in(client: Any, token: str, next_path: str | None = None) -> FormClient:
    """``client`` signed in through the sign-in form with ``token``."""
    browser = client if isinstance(client, FormClient) else FormClient(client)
    query = {} if next_path is None else {"next": next_path}
    response = browser.post("/login", data={"token": token}, query_string=query)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser
