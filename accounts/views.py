"""Login and logout pages, and the health check: the only views anyone may reach."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from archive.models import Study
from archive.uids import is_valid_uid

from . import accesslog, oidc, projects, roles, sharelinks
from .models import ShareLink


class LoginView(auth_views.LoginView):
    """With OIDC configured, straight on to the provider; the local form stays reachable at
    ?local=1 while LOCAL_LOGIN is on (a break-glass admin account). Without OIDC, the form."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        wants_local = request.GET.get("local") or request.GET.get("failed")
        if oidc.enabled() and not wants_local and not request.user.is_authenticated:
            next_url = self.get_redirect_url() or resolve_default()
            return redirect(reverse("accounts:oidc_login") + "?" + urlencode({"next": next_url}))
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN:
            return HttpResponseForbidden("Local accounts are switched off; use single sign-on.")
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            oidc_enabled=oidc.enabled(),
            local_login=settings.LOCAL_LOGIN,
            failed=bool(self.request.GET.get("failed")),
            **kwargs,
        )


def resolve_default() -> str:
    return auth_views.resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
def logout(request):
    """GET asks (a link must not log anyone out), POST logs out of Django and, with OIDC,
    of the provider too (RP-initiated logout)."""
    if request.method != "POST":
        return render(request, "accounts/logout.html")
    target = oidc.provider_logout_url(request)
    auth.logout(request)
    return redirect(target)


def admin_login(request):
    """The Django admin's login, routed ahead of it: anonymous visitors use the site's login
    page (local or single sign-on, so provider admins get in too); a signed-in user who is not
    staff gets the admin's own "not authorised" page, which also breaks any redirect loop."""
    if request.user.is_authenticated:
        return admin.site.login(request)
    return redirect_to_login(request.GET.get("next") or reverse("admin:index"))


def logged_out(request):
    return render(request, "accounts/logged_out.html")


def forbidden(request, exception=None):
    """The 403 page (``handler403``): to a person, which role is missing, whom to ask and a
    way to sign out; to a script, one line of text."""
    role = getattr(exception, "role", None)
    if not roles.wants_html(request):
        reason = f"this needs the {role} role" if role else "permission denied"
        return HttpResponse(f"Forbidden: {reason}.\n", status=403, content_type="text/plain")
    context = {
        "role": role,
        "description": roles.DESCRIPTIONS.get(role, ""),
        "held": roles.highest_role(request.user) if request.user.is_authenticated else None,
        "contact": settings.ACCESS_CONTACT,
    }
    return render(request, "accounts/forbidden.html", context, status=403)


def _may_share(user) -> bool:
    return roles.has_role(user, roles.READER) and user.has_perm("accounts.add_sharelink")


@require_POST
@roles.role_required(roles.READER)
def share_create(request):
    """From the worklist's study menu: a link for ``study`` (one or more) that expires after
    ``expires`` seconds (one of ShareLink.EXPIRY_CHOICES). The URL is in the answer, once."""
    if not _may_share(request.user):
        raise roles.RoleMissing("share")  # the page says whom to ask
    study_uids = [uid for uid in request.POST.getlist("study") if is_valid_uid(uid)][:50]
    seconds = dict(ShareLink.EXPIRY_CHOICES)
    try:
        expires = int(request.POST.get("expires", ""))
    except ValueError:
        expires = 0
    if not study_uids or expires not in seconds:
        return JsonResponse({"error": "name a study and an expiry from the list"}, status=400)
    scope = projects.current_scope()
    visible = set(
        Study.objects.filter(scope.q(), study_instance_uid__in=study_uids).values_list(
            "study_instance_uid", flat=True
        )
    )
    if missing := [uid for uid in study_uids if uid not in visible]:
        return JsonResponse({"error": f"no study {missing[0]}"}, status=404)
    link, key = sharelinks.create(
        request.user,
        study_uids,
        expires,
        allow_download=request.POST.get("download") == "on",
        description=request.POST.get("description", ""),
    )
    accesslog.record(accesslog.A.SHARE, study_uids, query=f"created {link.key_start}…")
    url = request.build_absolute_uri(f"{get_script_prefix()}share/{key}/")
    return JsonResponse(
        {"url": url, "expires_at": link.expires_at.isoformat(), "expires_in": seconds[expires]}
    )


@require_GET
@roles.role_required(roles.READER)
def share_list(request):
    """My shared links: each with its studies, state and expiry, and a revoke button."""
    links = ShareLink.objects.filter(created_by=request.user)[:200]
    return render(request, "accounts/share_list.html", {"links": links})


@require_POST
@roles.role_required(roles.READER)
def share_revoke(request, pk):
    link = ShareLink.objects.filter(pk=pk, created_by=request.user).first()
    if link is None:
        raise Http404("no such link of yours")
    if link.revoked_at is None:
        ShareLink.objects.filter(pk=pk).update(revoked_at=timezone.now())
        accesslog.record(accesslog.A.SHARE, link.study_uids, query=f"revoked {link.key_start}…")
    return redirect("accounts:share_list")
