"""Read a secret from Secrets Manager once per process (the webhook HMAC key)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from reconciler.errors import SettingsError


class SecretReader:
    def __init__(self, secretsmanager_client: Any):
        self._client = secretsmanager_client
        self._cache: dict[str, bytes] = {}

    def read(self, secret_id: str) -> bytes:
        if secret_id not in self._cache:
            try:
                response = self._client.get_secret_value(SecretId=secret_id)
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                # The message names the secret, never its value.
                raise SettingsError(f"cannot read secret {secret_id}: {code}") from None
            value = response.get("SecretString")
            self._cache[secret_id] = value.encode() if value is not None else bytes(response["SecretBinary"])
        return self._cache[secret_id]
