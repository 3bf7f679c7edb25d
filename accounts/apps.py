from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users' sessions: the token generation that revokes every token of a user at once."""

    name = "accounts"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        import accounts.api.schema  # noqa: F401 - registers the token scheme with the schema generator
        from accounts.services import user_deactivation_revoke

        # Deactivation happens in many places (the admin's form, a shell, a script); tying the revocation to
        # the save itself is the only way none of them is missed. The receiver only calls the service.
        pre_save.connect(user_deactivation_revoke, sender=get_user_model(), dispatch_uid="accounts.deactivation_revoke")
