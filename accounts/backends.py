"""The local-account backend, reading the logged-in user through accounts.usercache."""

from django.contrib.auth.backends import ModelBackend

from . import usercache


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id):
        user = usercache.get(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
