"""Users, with their role names, kept in the shared cache between requests.

Every request of a logged-in viewer (hundreds per study: frames, metadata) needs its user and
roles; read from the database that is two queries, most of a small request's time. With a
shared cache (CACHE_URL: every web and worker process sees the same entries) the user is read
once and kept until it changes: saving or deleting a user, changing its groups, or deleting or
renaming a role group forgets the entries concerned, in every process at once. Without a shared
cache nothing is kept, since forgetting in one process would not reach the others.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from . import projects, roles, sessionusers

TIMEOUT = 3600
User = get_user_model()


def _key(user_id) -> str:
    return f"accounts:user:{user_id}"


def get(user_id):
    """The user with this primary key and its role names loaded, or None if there is none."""
    if settings.SHARED_CACHE and (user := cache.get(_key(user_id))) is not None:
        return user
    user = User._default_manager.filter(pk=user_id).first()
    if user is None:
        return None
    roles.load(user)
    projects.load(user)
    if settings.SHARED_CACHE:
        cache.set(_key(user_id), user, TIMEOUT)
    return user


def forget(*user_ids) -> None:
    """Drop the users' entries, and this process's session users (accounts.sessionusers), now
    and again after the transaction commits: a request between the two would otherwise keep
    the old row again."""
    if not user_ids:
        return
    keys = [_key(user_id) for user_id in user_ids]

    def drop():
        sessionusers.forget_users(user_ids)
        if settings.SHARED_CACHE:
            cache.delete_many(keys)

    drop()
    transaction.on_commit(drop)


@receiver([post_save, post_delete], sender=User)
def _user_changed(sender, instance, **kwargs):
    forget(instance.pk)


@receiver(m2m_changed, sender=User.groups.through)
def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not reverse:  # user.groups.add(...) and the like: this user changed
        if action.startswith("post_"):
            forget(instance.pk)
    elif action == "pre_clear":  # group.user_set.clear(): its members, while still known
        forget(*instance.user_set.values_list("pk", flat=True))
    elif action.startswith("post_") and pk_set:  # group.user_set.add(...): these users
        forget(*pk_set)


@receiver(pre_delete, sender=Group)
@receiver(post_save, sender=Group)
def _group_changed(sender, instance, **kwargs):
    """Deleting a group removes its memberships without an m2m signal; renaming one may make
    it a role or stop it being one."""
    if instance.pk is not None:
        forget(*instance.user_set.values_list("pk", flat=True))
