"""How the OpenAPI schema describes the stamped bearer tokens: as simplejwt's own."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class StampedJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """The stamp changes what a token proves, not how it is sent: the same bearer scheme."""

    target_class = "accounts.api.authentication.StampedJWTAuthentication"
