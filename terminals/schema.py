"""drf-spectacular: the terminal signature as a security scheme of the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TerminalSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "terminals.auth.TerminalSignatureAuthentication"
    name = "terminalSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Signature",
            "description": (
                "hex HMAC-SHA256 with the terminal's secret over METHOD, PATH (with query string), "
                "X-Timestamp, X-Nonce and the body, each separated by a newline; with X-Terminal-Id, "
                "X-Timestamp and X-Nonce. See docs/terminal-api.md."
            ),
        }
