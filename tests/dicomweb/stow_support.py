"""Helpers for the STOW, deletion and DICOM JSON tests."""

import base64

from django.contrib.auth.models import Group, User
from django.test import Client

# Django's test client names the host "testserver".
BASE = "http://testserver/dicom-web"


class Api:
    """Django's test client authenticated with HTTP Basic, called like a requests session
    (``post(url, data=, headers=)``). Same views, database and storage as over HTTP, without a
    live server and its per-test table flush."""

    def __init__(self, username: str | None = None, password: str = "password"):
        self.client = Client()
        self.extra = {}
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.extra["HTTP_AUTHORIZATION"] = f"Basic {token}"

    def request(self, method: str, url: str, data: bytes = b"", headers=None, params=None):
        headers = dict(headers or {})
        content_type = headers.pop("Content-Type", "")
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if content_type:  # the test client drops it when the body is empty
            extra["CONTENT_TYPE"] = content_type
        if params:
            extra["QUERY_STRING"] = "&".join(f"{k}={v}" for k, v in params.items())
        return self.client.generic(
            method, url, data, content_type=content_type, **self.extra, **extra
        )

    def post(self, url, data=b"", headers=None):
        return self.request("POST", url, data, headers)

    def get(self, url, params=None, headers=None):
        return self.request("GET", url, headers=headers, params=params)

    def delete(self, url):
        return self.request("DELETE", url)

    def put(self, url):
        return self.request("PUT", url)


def user_with_role(role: str) -> User:
    user = User.objects.create_user(role, password="password")
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user
