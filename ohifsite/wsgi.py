import os

from django.core.wsgi import get_wsgi_application

from ohifsite.edge import guard_input

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ohifsite.settings")
application = guard_input(get_wsgi_application())
