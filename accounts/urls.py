"""Routes under /accounts/: login (local or OIDC), the OIDC callback, logout."""

from django.urls import path

from . import oidc, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("logged-out/", views.logged_out, name="logged_out"),
    path("oidc/authenticate/", oidc.OidcLoginView.as_view(), name="oidc_login"),
    path("oidc/callback/", oidc.OidcCallbackView.as_view(), name="oidc_callback"),
    path("shares/", views.share_list, name="share_list"),
    path("shares/new", views.share_create, name="share_create"),
    path("shares/<int:pk>/revoke", views.share_revoke, name="share_revoke"),
]
