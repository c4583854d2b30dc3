"""What-if: the gateway's settings without django-celery-beat in the web process.

Measures what the periodic-task admin costs an idle web process (django_celery_beat's models
import Celery, kombu and their dependencies). Beat and the periodic-task admin do not work with this.

    .venv/bin/python bench/compare.py --variants baseline,no-beat ...
"""

from proxy_project.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_celery_beat"]  # noqa: F405
