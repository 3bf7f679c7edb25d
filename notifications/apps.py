from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Tells people what happened elsewhere in Atom. It listens to the other apps' signals and reads them
    through their selectors; no app imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self) -> None:
        from notifications import receivers

        receivers.connect()
