import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Behind a reverse proxy (a load balancer, an ingress): the client's address and scheme come from
# its X-Forwarded-For and X-Forwarded-Proto, trusted only from the addresses listed here
# (comma-separated IPs or networks), never from anyone else. Throttling by IP needs it.
if trusted := os.environ.get("FORWARDED_ALLOW_IPS", ""):
    from granian.utils.proxies import wrap_wsgi_with_proxy_headers

    application = wrap_wsgi_with_proxy_headers(application, trusted_hosts=trusted)
