"""DRF permission classes for the three roles; DICOMweb views declare one of these."""

from rest_framework.permissions import BasePermission

from . import roles


class _Role(BasePermission):
    role = roles.READER

    def has_permission(self, request, view):
        return roles.has_role(request.user, self.role)


class IsReader(_Role):
    role = roles.READER


class IsUploader(_Role):
    role = roles.UPLOADER


class IsArchiveAdmin(_Role):
    role = roles.ADMIN
