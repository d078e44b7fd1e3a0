"""Which studies a request may see: its ``Scope``, the one filter every door applies at the
query (QIDO-RS and C-FIND SQL, WADO lookups, the worklist, DICOM JSON links, downloads).

Admins see every study. Anyone else sees the studies of their projects (``Project``: by user,
by group, by provider group); with no project, every study while ``READERS_WITHOUT_PROJECT`` is
``all`` (a small site, the default) or none when it is ``none``. A share link sees exactly its
studies. Outside a request (workers, commands, the DICOM listener) nothing is filtered here.
"""

import fnmatch
from dataclasses import dataclass

import pydicom
import pydicom.errors
from django.conf import settings
from django.db.models import Q
from django.db.models.signals import m2m_changed, pre_delete
from django.dispatch import receiver

from . import current, roles, usercache
from .models import Project


@dataclass(frozen=True)
class Scope:
    """``project_ids`` None: any project (no filter by project); ``study_uids`` None: any
    study. Hashable, so lookups may remember rows per scope."""

    project_ids: tuple[int, ...] | None = None
    study_uids: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.project_ids is None and self.study_uids is None

    def q(self, study: str = "") -> Q:
        """The condition on a QuerySet whose studies are reached through ``study`` (e.g.
        ``"series__study__"`` for instances; ``""`` for studies themselves)."""
        condition = Q()
        if self.project_ids is not None:
            ids = Project.studies.through.objects.filter(project_id__in=self.project_ids)
            condition &= Q(**{f"{study}pk__in": ids.values("study_id")})
        if self.study_uids is not None:
            condition &= Q(**{f"{study}study_instance_uid__in": self.study_uids})
        return condition

    def sql(self, study_id: str, study_uid: str) -> list[tuple[str, list]]:
        """The same as SQL conditions, each with its parameters, on the study table's columns,
        for hand-written queries."""
        conditions = []
        if self.project_ids is not None:
            through = Project.studies.through._meta.db_table
            ids = ", ".join(["%s"] * len(self.project_ids)) or "NULL"
            conditions.append(
                (
                    f"{study_id} IN (SELECT study_id FROM {through} WHERE project_id IN ({ids}))",
                    list(self.project_ids),
                )
            )
        if self.study_uids is not None:
            uids = ", ".join(["%s"] * len(self.study_uids)) or "NULL"
            conditions.append((f"{study_uid} IN ({uids})", list(self.study_uids)))
        return conditions


EVERYTHING = Scope()


def scope_of(user) -> Scope:
    """What ``user`` may see. Its project ids are read once and kept on the user object, which
    accounts.usercache keeps between requests and forgets when a membership changes."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Scope(project_ids=())
    if roles.has_role(user, roles.ADMIN):
        return EVERYTHING
    ids = getattr(user, "_project_ids", None)
    if ids is None:
        ids = load(user)
    if not ids and settings.READERS_WITHOUT_PROJECT == "all":
        return EVERYTHING
    return Scope(project_ids=ids)


def load(user) -> tuple[int, ...]:
    user._project_ids = tuple(
        Project.objects.filter(Q(users=user) | Q(groups__user=user) | Q(provider_members=user))
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    return user._project_ids


def _members(project: Project) -> set[int]:
    return {
        *project.users.values_list("pk", flat=True),
        *project.provider_members.values_list("pk", flat=True),
        *project.groups.values_list("user__pk", flat=True),
    } - {None}


@receiver(m2m_changed, sender=Project.users.through)
@receiver(m2m_changed, sender=Project.provider_members.through)
@receiver(m2m_changed, sender=Project.groups.through)
def _membership_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """Forget the cached users whose projects change (accounts.usercache)."""
    if not action.startswith(("post_", "pre_clear")):
        return
    if action == "post_clear":
        return  # handled at pre_clear, while the members were still known
    if isinstance(instance, Project):
        if action == "pre_clear" or sender is Project.groups.through:
            usercache.forget(*_members(instance), *_group_members(sender, pk_set))
        else:
            usercache.forget(*(pk_set or ()))
    elif sender is Project.groups.through:  # group.projects.add(...)
        usercache.forget(*instance.user_set.values_list("pk", flat=True))
    else:  # user.projects.add(...)
        usercache.forget(instance.pk)


def _group_members(sender, pk_set) -> list[int]:
    if sender is not Project.groups.through or not pk_set:
        return []
    from django.contrib.auth.models import Group

    return list(Group.objects.filter(pk__in=pk_set).values_list("user__pk", flat=True))


@receiver(pre_delete, sender=Project)
def _project_deleted(sender, instance, **kwargs):
    usercache.forget(*_members(instance))


def ae_scope(calling_ae: str) -> Scope:
    """What a DICOM AE may find and retrieve: the studies of the projects that list it in
    ``remote_ae_titles``; an AE no project lists is treated as a reader without a project
    (``READERS_WITHOUT_PROJECT``: every study, or none), as at every other door."""
    title = calling_ae.strip()
    ids = tuple(
        project.pk
        for project in Project.objects.exclude(remote_ae_titles="").order_by("pk")
        if title in _listed(project.remote_ae_titles)
    )
    if not ids and settings.READERS_WITHOUT_PROJECT == "all":
        return EVERYTHING
    return Scope(project_ids=ids)


def current_scope() -> Scope:
    """The scope of the request being served (a share link's studies, else its user's),
    worked out once per request: the user object outlives requests (accounts.usercache)."""
    request = current.request.get()
    if request is None:
        return EVERYTHING
    found = getattr(request, "_study_scope", None)
    if found is None:
        if (link := getattr(request, "share_link", None)) is not None:
            found = Scope(study_uids=tuple(link.study_uids))
        else:
            found = scope_of(getattr(request, "user", None))
        request._study_scope = found
    return found


def may_see(study_uid: str, scope: Scope | None = None) -> bool:
    from archive.models import Study

    scope = current_scope() if scope is None else scope
    if scope.everything:
        return True
    return Study.objects.filter(scope.q(), study_instance_uid=study_uid).exists()


def assign_by_rules(sender, arrivals, results, **kwargs) -> None:
    """``archive.ingest.instances_received``: put each study that received instances into the
    projects whose rules it meets (calling AE title, uploading user, InstitutionName,
    ReferringPhysicianName). Adding is idempotent; nothing is ever taken out here."""
    rules = [
        project for project in Project.objects.prefetch_related("uploaders") if _has_rule(project)
    ]
    if not rules:
        return
    arrived: dict[int, set] = {}
    for arrival, result in zip(arrivals, results, strict=True):
        if result.ok and result.study_pk:
            arrived.setdefault(result.study_pk, set()).add(arrival.origin)
    for study_pk, origins in arrived.items():
        names = _names(study_pk, rules)
        for project in rules:
            if any(_matches(project, origin, names) for origin in origins):
                project.studies.add(study_pk)


def _has_rule(project: Project) -> bool:
    return bool(
        project.calling_ae_titles
        or project.institution_names
        or project.referring_physicians
        or project.uploaders.all()
    )


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _matches(project: Project, origin, names: dict[str, str]) -> bool:
    if origin.calling_ae and origin.calling_ae.strip() in _listed(project.calling_ae_titles):
        return True
    if origin.user_id is not None and any(u.pk == origin.user_id for u in project.uploaders.all()):
        return True
    for text, value in (
        (project.institution_names, names.get("InstitutionName", "")),
        (project.referring_physicians, names.get("ReferringPhysicianName", "")),
    ):
        if value and any(fnmatch.fnmatch(value.upper(), p.upper()) for p in _listed(text)):
            return True
    return False


def _names(study_pk: int, rules: list[Project]) -> dict[str, str]:
    """InstitutionName (not in the index: read from one stored file's header) and
    ReferringPhysicianName, only when some rule asks for them."""
    from archive import stores
    from archive.models import Instance, Study

    names = {}
    if any(project.referring_physicians for project in rules):
        study = Study.objects.filter(pk=study_pk).values_list("referring_physician_name").first()
        names["ReferringPhysicianName"] = (study or ("",))[0]
    if any(project.institution_names for project in rules):
        instance = Instance.objects.filter(series__study_id=study_pk).only("file_path").first()
        if instance is not None:
            try:
                with stores.current().local_copy(instance.file_path) as path:
                    ds = pydicom.dcmread(
                        path, stop_before_pixels=True, specific_tags=["InstitutionName"]
                    )
                names["InstitutionName"] = str(ds.get("InstitutionName", "") or "")
            except (OSError, pydicom.errors.InvalidDicomError):
                pass
    return names
