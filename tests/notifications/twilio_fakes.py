"""Twilio's client with its HTTP layer replaced at the seam Twilio documents (a custom
`http_client`, a subclass of twilio.http.HttpClient): every request is recorded exactly as it
would go to api.twilio.com, and answered with a queued response."""

import json
import logging

from twilio.http import HttpClient
from twilio.http.response import Response

from notifications.backends import TwilioSmsBackend


class RecordingHttpClient(HttpClient):
    requests: list[dict] = []
    responses: list[tuple[int, dict]] = []  # answered in order; then 201 Created
    timeouts: list[float | None] = []  # the timeout each client was built with

    def __init__(self, timeout=None):
        super().__init__(logging.getLogger("tests.twilio"), is_async=False, timeout=timeout)
        RecordingHttpClient.timeouts.append(timeout)

    @classmethod
    def reset(cls):
        cls.requests.clear()
        cls.responses.clear()
        cls.timeouts.clear()

    def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ):
        self.requests.append(
            {"method": method, "url": uri, "params": params, "data": data, "headers": headers, "auth": auth}
        )
        if self.responses:
            status, body = self.responses.pop(0)
        else:
            sid = f"SM{len(self.requests):032x}"
            status, body = 201, {"sid": sid, "status": "queued", "to": data["To"], "body": data["Body"]}
        return Response(status, json.dumps(body))


class RecordingTwilioBackend(TwilioSmsBackend):
    http_client_class = RecordingHttpClient
