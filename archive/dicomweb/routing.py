"""One URL, several PS3.18 transactions told apart by HTTP method.

``/studies`` is Search for Studies on GET (qido.py) and Store Instances on POST (stow.py);
``/studies/{study}`` is retrieve, store or delete. Django resolves URLs without looking at
the method, so each shared route maps methods to the views of their own modules here.
"""

from django.http import HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt


def by_method(**views):
    """A view that hands the request to ``views[request.method]``; HEAD goes to GET's view.

    Each target is a DRF view, which does its own authentication (CSRF included for session
    logins); this wrapper is CSRF-exempt only so that Django's middleware leaves that to them.
    """
    allowed = sorted(views)

    @csrf_exempt
    def dispatch(request, *args, **kwargs):
        method = "GET" if request.method == "HEAD" else request.method
        view = views.get(method)
        if view is None:
            return HttpResponseNotAllowed(allowed)
        return view(request, *args, **kwargs)

    dispatch.allowed_methods = allowed
    return dispatch
